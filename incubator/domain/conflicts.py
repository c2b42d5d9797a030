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
    # Whole words only: "Radiumhospitalet" does not name a company called "Radium", while
    # "Board member, CellCure" names CellCure. Erring towards a flag is cheap: a manager sees
    # the reason and can remove the reviewer's conflict by assigning someone else.
    if len(affiliation) >= 3 and len(company) >= 3 and f" {company} " in f" {affiliation} ":
        return f"The reviewer's affiliation matches the company name {company_name}."
    return None


def detect_conflicts(reviewers: list[tuple[int, str, str | None]],
                     companies: list[tuple[int, str | None, str | None]]) -> list[tuple[int, int, str]]:
    """Every obvious (reviewer id, company id, reason) among these, in time linear in their number.

    ``reviewers`` are (id, email, affiliation), ``companies`` (id, name, website). Companies are
    indexed by web domain and by normalised name, so each reviewer looks up only their own
    email domain and the word runs of their affiliation instead of scanning every company.
    """
    by_domain: dict[str, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    facts = {company_id: (name, website) for company_id, name, website in companies}
    for company_id, name, website in companies:
        domain = website_domain(website)
        if domain:
            by_domain.setdefault(domain, []).append(company_id)
        normalised = normalised_name(name)
        if len(normalised) >= 3:
            by_name.setdefault(normalised, []).append(company_id)
    found: list[tuple[int, int, str]] = []
    for reviewer_id, email, affiliation in reviewers:
        candidates: set[int] = set()
        domain = email_domain(email)
        parts = domain.split(".")
        for start in range(len(parts) - 1):  # ous.no, and sub.ous.no matching ous.no
            candidates.update(by_domain.get(".".join(parts[start:]), ()))
        words = normalised_name(affiliation).split()
        for first in range(len(words)):
            for last in range(first + 1, len(words) + 1):
                candidates.update(by_name.get(" ".join(words[first:last]), ()))
        for company_id in sorted(candidates):
            name, website = facts[company_id]
            reason = detect_conflict(email, affiliation, name, website)
            if reason:
                found.append((reviewer_id, company_id, reason))
    return found
