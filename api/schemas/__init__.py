"""Response models of the Twilio-shaped resources: what each route answers, for the API reference
(and, since FastAPI passes each answer through its model, the keys it may answer)."""
