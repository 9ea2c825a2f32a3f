"""RabbitMQ: topology, confirmed publishing, consuming, the control bus."""
