"""What outputs.mqtt and inputs.mqtt_consumer share: broker URLs, the client options, and one
supervised connection (paho-mqtt, imported only when an MQTT plugin runs).

- servers: Telegraf's broker URLs (tcp, mqtt, ssl, tls, mqtts, ws, wss; host:port alone means
  tcp), checked at `agent check`;
- settings: the paho client built from the plugin's options (3.1.1 or 5, sessions, TLS,
  websockets, login);
- connection: the client's network loop in a supervised worker that connects, fails over
  between servers and reconnects with backoff; only that thread touches the socket.
"""
