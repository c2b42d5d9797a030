"""Obvious conflicts, found by index rather than by comparing every pair."""

from incubator.domain.conflicts import detect_conflict, detect_conflicts


def test_email_domain_of_the_company_website_is_a_conflict() -> None:
    assert detect_conflict("anna@tumourtech.no", None, "TumourTech AS", "https://www.tumourtech.no/about")
    assert detect_conflict("anna@lab.tumourtech.no", None, "TumourTech AS", "tumourtech.no")


def test_public_mail_providers_and_partial_names_are_not_conflicts() -> None:
    assert detect_conflict("anna@gmail.com", None, "Gmail Therapeutics", "https://gmail.com") is None
    assert detect_conflict("rune@ous.no", "Radiumhospitalet", "Radium", "https://radium.bio") is None


def test_affiliation_naming_the_company_is_a_conflict() -> None:
    assert detect_conflict("x@uio.no", "Adviser, TumourTech", "TumourTech AS", None)


def test_indexed_detection_equals_pairwise_detection() -> None:
    reviewers = [(1, "anna@tumourtech.no", None), (2, "rune@ous.no", "Board member at CellCure AS"),
                 (3, "kari@gmail.com", "Independent"), (4, "ola@sub.cellcure.no", None)]
    companies = [(10, "TumourTech AS", "https://tumourtech.no"), (11, "CellCure", "https://www.cellcure.no"),
                 (12, "Independent Diagnostics", None), (13, None, None)]
    pairwise = sorted((r, c, reason) for r, email, affiliation in reviewers for c, name, site in companies
                      if (reason := detect_conflict(email, affiliation, name, site)))
    assert sorted(detect_conflicts(reviewers, companies)) == pairwise
    assert {(r, c) for r, c, _ in pairwise} == {(1, 10), (2, 11), (4, 11)}
