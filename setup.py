"""Package metadata for the incubator residency matching service."""

from setuptools import find_packages, setup

setup(
    name="incubator",
    version="0.1.0",
    description="Residency intake, review and matching for Oslo Cancer Cluster's incubator programmes",
    python_requires=">=3.11",
    packages=find_packages(include=["incubator", "incubator.*"]),
    include_package_data=True,
    install_requires=[
        "Flask>=3.1,<4",
        "SQLAlchemy>=2.0.36,<2.1",
        "Flask-SQLAlchemy>=3.1.1,<4",
        "Flask-Migrate>=4.1,<5",
        "alembic>=1.14,<2",
        "Flask-WTF>=1.2,<2",
        "WTForms>=3.1,<3.4",
        "email-validator>=2.2,<3",
        "Flask-Login>=0.6.3,<0.7",
        "Flask-Babel>=4.0,<5",
        "Bootstrap-Flask>=2.4,<3",
        "argon2-cffi>=23.1,<26",
        "Flask-Limiter>=3.8,<5",
        "APScheduler>=3.10,<4",
        "psycopg[binary]>=3.2,<4",
        "gunicorn>=23,<28",
        "redis>=5.0,<7",  # RATELIMIT_STORAGE_URI=redis://… (login throttling shared by web hosts)
        "boto3>=1.35,<2",  # STORAGE_URL=s3://… (uploads shared by web hosts)
        "prometheus-client>=0.21,<1",  # /metrics
        "numpy>=1.26,<3",
        "ortools>=9.11,<10",
        "scikit-learn>=1.5,<2",
        "pyotp>=2.9,<3",
        "segno>=1.6,<2",
        # Call descriptions are Markdown; nh3 keeps only safe HTML from what markdown-it renders.
        "markdown-it-py>=3,<5",
        "nh3>=0.2.18,<0.4",
        # Company registration numbers (NO, SE, DK, FI) with their check digits.
        "python-stdnum>=1.20,<3",
        # The insights reports: PDF and .xlsx in pure Python (no Pango or other system libraries).
        "fpdf2>=2.8,<3",
        "openpyxl>=3.1,<4",
    ],
    extras_require={
        "test": [
            "pytest>=8.3,<10",
            "pytest-xdist>=3.6,<4",
            "aiosmtpd>=1.4.6,<2",
            "playwright>=1.48,<2",
            "hypothesis>=6.112,<7",
            "scipy>=1.14,<2",
            "matching>=1.4,<2",
            "ruff>=0.8,<1",
            "moto[server]>=5.0,<6",  # a real S3 API on localhost (tests/support/s3.py)
            "requests>=2.32,<3",  # the topology test talks HTTP to gunicorn
            "axe-playwright-python>=0.1.8,<0.2",  # bundles axe-core for the accessibility checks
        ],
    },
)
