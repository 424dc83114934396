"""Local fake providers speaking the real wire formats (Twilio, FCM, SMTP).

Used by the integration tests and the demo: the real client libraries are
pointed at these servers, never patched inside our code.
"""
