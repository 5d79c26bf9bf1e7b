"""Signature checks, one function per provider scheme. Each fails closed."""

from collections.abc import Iterable, Mapping, Sequence

from pydantic import SecretStr
from twilio.request_validator import RequestValidator


class FormParams(dict[str, list[str]]):
    """Form fields with repeated names kept; ``getall`` is what the twilio SDK looks for."""

    def getall(self, name: str) -> list[str]:
        return self[name]

    def first(self, name: str) -> str | None:
        values = self.get(name)
        return values[0] if values else None

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> "FormParams":
        params = cls()
        for name, value in pairs:
            params.setdefault(name, []).append(value)
        return params


def twilio_signature_ok(
    url: str,
    params: Mapping[str, Sequence[str]],
    signature: str | None,
    tokens: Sequence[SecretStr],
) -> bool:
    """True when ``signature`` (X-Twilio-Signature) matches ``url`` + params under any token."""
    if not signature:
        return False
    return any(
        RequestValidator(token.get_secret_value()).validate(url, params, signature)
        for token in tokens
    )
