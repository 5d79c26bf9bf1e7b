"""Real adapters: MongoDB, Redis, OpenAI, WhatsApp Cloud API, Twilio, Kafka."""
