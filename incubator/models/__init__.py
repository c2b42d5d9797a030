"""SQLAlchemy models; importing this package registers every table on the metadata."""

from incubator.models import (
    insight_inputs,  # noqa: F401  (registers the listeners counting changes to insights inputs)
    match_inputs,  # noqa: F401  (registers the listeners counting changes to match inputs)
)
from incubator.models.application_scores import ApplicationScore
from incubator.models.applications import Application, Attachment, ProgrammePreference
from incubator.models.audit import AuditEvent
from incubator.models.committee import Bid, CallReviewer, CommitteeComment, CommitteeNote
from incubator.models.insight_snapshots import CallInsightSnapshot
from incubator.models.match_runs import MatchPlacement, MatchRun
from incubator.models.normalised_scores import NormalisedScore, NormalisedSnapshot
from incubator.models.organisations import ApplicationMember, JoinRequest, MemberInvitation, Organisation
from incubator.models.outbox import OutboundEmail
from incubator.models.programmes import Call, CallProgramme, Criterion, Partner, Programme, Site, Slot
from incubator.models.questions import CallQuestion, QuestionAnswer, QuestionOption
from incubator.models.reminders import CallReminderPolicy, NotificationPreference, SentReminder
from incubator.models.residencies import Offer, Residency, ResidencyCheckIn, ResidencyReport, ResidencySupport
from incubator.models.reviews import Assignment, Conflict, Review, ReviewerProfile, Score
from incubator.models.scheduling import JobHeartbeat, SchedulerLease
from incubator.models.scopes import ProgrammeScope
from incubator.models.security import RecoveryCode, UserSession
from incubator.models.users import User

__all__ = [
    "ApplicationMember",
    "JoinRequest",
    "MemberInvitation",
    "Organisation",
    "Bid",
    "CallReviewer",
    "CommitteeComment",
    "CommitteeNote",
    "CallReminderPolicy",
    "NotificationPreference",
    "SentReminder",
    "Application",
    "ApplicationScore",
    "Assignment",
    "Conflict",
    "Review",
    "ReviewerProfile",
    "Score",
    "Attachment",
    "ProgrammePreference",
    "AuditEvent",
    "CallInsightSnapshot",
    "Call",
    "CallQuestion",
    "Partner",
    "QuestionAnswer",
    "QuestionOption",
    "CallProgramme",
    "Criterion",
    "OutboundEmail",
    "MatchPlacement",
    "MatchRun",
    "NormalisedScore",
    "NormalisedSnapshot",
    "Offer",
    "Programme",
    "ProgrammeScope",
    "Residency",
    "ResidencyCheckIn",
    "ResidencyReport",
    "ResidencySupport",
    "Site",
    "Slot",
    "User",
    "UserSession",
    "RecoveryCode",
    "JobHeartbeat",
    "SchedulerLease",
]
