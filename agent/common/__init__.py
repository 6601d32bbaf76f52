"""What several plugins share: TLS options and HTTP helpers."""
