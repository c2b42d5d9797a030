"""Obvious conflicts of interest, detected from plain facts about a reviewer and a company."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Addresses at these providers say nothing about where a person works.
PUBLIC_EMAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com", "icloud.com",
    "me.com", "proton.me", "protonmail.com", "online.no", "hotmail.no", "live.no", "telia.com", "gmx.com",
    "gmx.de", "aol.com", "mail.com", "example.org", "example.com", "example.net",
})
LEGAL_FORMS = re.compile(r"\b(as|asa|ab|publ|ltd|limited|inc|gmbh|aps|oy|oyj|bv|nv|sa|sas|srl|plc|llc)\b\.?")


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower()


def website_domain(website: str | None) -> str | None:
    if not website:
        return None
    host = urlsplit(website if "//" in website else f"//{website}").hostname or ""
    host = host.lower().removeprefix("www.")
    return host or None


def normalised_name(name: str | None) -> str:
    """'TumourTech AS' and 'tumourtech' compare equal; legal forms and punctuation are noise."""
    lowered = LEGAL_FORMS.sub(" ", (name or "").lower())
    return " ".join(re.sub(r"[^\w]+", " ", lowered).split())


def detect_conflict(reviewer_email: str, reviewer_affiliation: str | None,
                    company_name: str | None, company_website: str | None) -> str | None:
    """Why this reviewer obviously has a conflict with this company, or None."""
    domain = email_domain(reviewer_email)
    site = website_domain(company_website)
    if site and domain not in PUBLIC_EMAIL_DOMAINS and (domain == site or domain.endswith("." + site)):
        return f"The reviewer's email domain {domain} is the company's web domain."
    affiliation, company = normalised_name(reviewer_affiliation), normalised_name(company_name)
    # Whole words only: "Radium Hospital" must not match a company called "Radium".
    if len(affiliation) >= 3 and len(company) >= 3 and f" {company} " in f" {affiliation} ":
        return f"The reviewer's affiliation matches the company name {company_name}."
    return None
