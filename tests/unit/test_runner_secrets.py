"""What `runner.setup` hides in log lines: secrets, and not ordinary words that happen to be a password."""

import io
import json
import logging

from pydantic import SecretStr

from bridge import logs, runner
from bridge.settings import Settings


def _line(settings: Settings, message: str) -> dict:
    runner.setup(settings)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("bridge.cli")
    logger.addHandler(handler)
    try:
        logger.warning(message)
    finally:
        logger.removeHandler(handler)
    return json.loads(stream.getvalue().splitlines()[-1])


def test_a_short_dev_password_is_hidden_in_urls_but_does_not_eat_the_word_bridge():
    settings = Settings(database_url=SecretStr("postgresql://bridge:bridge@db:5432/bridge"))
    line = _line(settings, "connecting to postgresql://bridge:bridge@db:5432/bridge for bridge.relay")
    assert line["logger"] == "bridge.cli"
    assert "bridge:bridge@" not in line["msg"] and line["msg"].endswith("for bridge.relay")


def test_a_real_password_is_hidden_wherever_it_appears():
    settings = Settings(database_url=SecretStr("postgresql://bridge:S3cret-Pa55word@db:5432/bridge"))
    line = _line(settings, "auth failed with S3cret-Pa55word")
    assert "S3cret-Pa55word" not in json.dumps(line, ensure_ascii=False)


def test_console_passwords_tokens_and_session_key_are_hidden():
    settings = Settings(console_users=[SecretStr("anna:Console-Pa55word"), SecretStr("boris:second-pass")],
                        console_tokens=[SecretStr("console-token-0123456789")],
                        console_session_key=SecretStr("session-key-abcdefgh"))
    line = _line(settings, "Console-Pa55word second-pass console-token-0123456789 session-key-abcdefgh anna")
    assert line["msg"] == "*** *** *** *** anna"  # the user name stays: it is who did something


def test_the_proxy_url_and_its_password_are_hidden():
    settings = Settings(b24_proxy_url=SecretStr("http://squid:Pr0xy-Pa55word@proxy.corp:3128"))
    line = _line(settings, "proxy http://squid:Pr0xy-Pa55word@proxy.corp:3128 refused; password Pr0xy-Pa55word")
    assert "Pr0xy-Pa55word" not in line["msg"] and line["msg"].startswith("proxy *** refused")
