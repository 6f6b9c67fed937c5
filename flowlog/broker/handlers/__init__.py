"""One module per Kafka API (or small family of APIs), each headed by the versions it serves."""
