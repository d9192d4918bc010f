"""Response models of the Twilio-shaped routes."""
