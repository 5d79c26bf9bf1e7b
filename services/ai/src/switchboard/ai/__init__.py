"""Switchboard AI replies: per-business OpenAI answers to WhatsApp and SMS, never twice."""
