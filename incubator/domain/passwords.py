"""Password policy: a pure check that returns the reasons a password is too weak."""

from __future__ import annotations

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200

# The most used passwords of breach corpora that pass a length rule; refusing them costs
# nothing and stops the first guesses of any attacker.
COMMON_PASSWORDS = frozenset(
    {
        "1234567890", "12345678910", "0123456789", "1111111111", "password12", "password123",
        "password1234", "qwertyuiop", "qwerty1234", "1q2w3e4r5t", "iloveyou12", "abcdefghij",
        "letmein123", "welcome123", "administrator", "passw0rd123", "0987654321", "aaaaaaaaaa",
        "qwertyuiop123", "1qaz2wsx3edc", "incubator123", "password!1", "changeme123",
    }
)


def password_problems(password: str, *, email: str = "") -> list[str]:
    """Reasons the password is unacceptable; an empty list means it is fine."""
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        problems.append("This password is too common.")
    if len(set(password)) < 4 and len(password) >= MIN_PASSWORD_LENGTH:
        problems.append("Use more different characters.")
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 4 and local_part in lowered:
        problems.append("Do not include your email address.")
    return problems
