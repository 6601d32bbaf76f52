"""Parsers for what inputs receive (http_listener_v2 now, mqtt_consumer later), in Telegraf's
data_format names and options, and the line-protocol reader of InfluxDB's own /write.

- formats: the data_format registry ("influx", "json") with every parser option;
- influxdb_points: line protocol exactly as InfluxDB's server reads it (its errors, its values),
  for the listeners that stand in for InfluxDB;
- json: Telegraf's json parser (json_name_key, tag_keys, json_string_fields, json_time_key,
  json_time_format with Go layouts, json_timezone, json_query as a GJSON path subset).
"""
