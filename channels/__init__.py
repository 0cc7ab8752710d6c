"""Rasa's own messaging connectors, with the few settings a site needs that Rasa's lack.

``credentials.yml`` names these classes (``channels.telegram.TelegramInput``,
``channels.twilio.TwilioInput``) instead of Rasa's ``telegram`` and ``twilio``. Each is the
smallest subclass of Rasa's connector: the request handling and the sending code are Rasa's; the
channel names stay ``telegram`` and ``twilio``, and so do the webhook paths
(``/webhooks/telegram/webhook``, ``/webhooks/twilio/webhook``). What they add:

- ``api_url``: the provider's API base URL, for a self-hosted Telegram Bot API server or a test
  double (``TELEGRAM_API_URL``, ``TWILIO_API_URL``);
- webhook authentication: Telegram's secret token, Twilio's ``X-Twilio-Signature``;
- Telegram: ``/start`` (and a ``t.me/<bot>?start=<trial id>`` deep link) greets the patient;
- Twilio: replies leave the event loop free, and WhatsApp replies come from the WhatsApp number.

This package imports Rasa; ``bot/`` never does.
"""
