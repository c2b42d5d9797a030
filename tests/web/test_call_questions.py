"""The call's own questions: managers build and order them; applicants answer them in their own
step (drafts may be partial, malformed answers are refused, submission names missing required
ones); reviewers, managers, the ranking CSV and the applicant's export show the answers."""

from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal

from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Call, CallQuestion, QuestionAnswer, QuestionOption
from incubator.services.questions import AnswersInvalid, store_answers
from tests.conftest import csrf_token, log_in
from tests.factories import TINY_PDF, make_application, make_call
from tests.factories_reviews import make_assignment


def add_question(client: FlaskClient, call: Call, **fields: str):
    path = f"/manage/calls/{call.id}/questions"
    return client.post(path, data={"csrf_token": csrf_token(client, path), **fields})


def questions_of(call: Call) -> list[CallQuestion]:
    db.session.expire_all()
    return list(db.session.get(Call, call.id).questions)


def with_questions(call: Call) -> tuple[CallQuestion, CallQuestion, CallQuestion]:
    level = CallQuestion(position=0, variant="single_choice", label="Biosafety level", required=True,
                         options=[QuestionOption(position=0, label="BSL-1"), QuestionOption(position=1, label="BSL-2")])
    staff = CallQuestion(position=1, variant="number", label="Lab staff", min_number=Decimal(0),
                         max_number=Decimal(50))
    plan = CallQuestion(position=2, variant="long_text", label="Plan", max_words=5, required=True)
    call.questions = [level, staff, plan]
    db.session.commit()
    return level, staff, plan


# --- the builder ---------------------------------------------------------------------------------

def test_manager_adds_questions_of_each_kind(manager_client: FlaskClient) -> None:
    call = make_call(state="draft")
    assert add_question(manager_client, call, label="Stage", variant="single_choice", required="y",
                        options="Seed\nSeries A\n\n", help_text="Pick one").status_code == 302
    assert add_question(manager_client, call, label="Pitch in brief", variant="long_text",
                        max_words="200").status_code == 302
    assert add_question(manager_client, call, label="Staff", variant="number", min_number="0",
                        max_number="50").status_code == 302
    stage, pitch, staff = questions_of(call)
    assert (stage.required, stage.help_text, [o.label for o in stage.options]) == (True, "Pick one",
                                                                                   ["Seed", "Series A"])
    assert (pitch.max_words, pitch.required) == (200, False)
    assert (staff.min_number, staff.max_number) == (Decimal(0), Decimal(50))


def test_choice_question_without_options_is_refused(manager_client: FlaskClient) -> None:
    call = make_call(state="draft")
    response = add_question(manager_client, call, label="Stage", variant="multiple_choice", options="\n \n")
    assert response.status_code == 400
    assert "A choice question needs at least one option." in response.get_data(as_text=True)
    assert questions_of(call) == []


def test_bounds_in_the_wrong_order_are_refused(manager_client: FlaskClient) -> None:
    call = make_call(state="draft")
    response = add_question(manager_client, call, label="Staff", variant="number", min_number="9", max_number="1")
    assert response.status_code == 400
    assert "The lowest number allowed must not be above the highest." in response.get_data(as_text=True)


def test_questions_move_up_and_down(manager_client: FlaskClient) -> None:
    call = make_call(state="draft")
    level, staff, plan = with_questions(call)
    token = csrf_token(manager_client, f"/manage/calls/{call.id}/questions")
    base = f"/manage/calls/{call.id}/questions"
    assert manager_client.post(f"{base}/{plan.id}/move/up", data={"csrf_token": token}).status_code == 302
    assert [q.label for q in questions_of(call)] == ["Biosafety level", "Plan", "Lab staff"]
    manager_client.post(f"{base}/{level.id}/move/down", data={"csrf_token": token})
    assert [q.label for q in questions_of(call)] == ["Plan", "Biosafety level", "Lab staff"]
    manager_client.post(f"{base}/{plan.id}/move/up", data={"csrf_token": token})  # already first: stays
    assert [q.label for q in questions_of(call)] == ["Plan", "Biosafety level", "Lab staff"]
    assert manager_client.post(f"{base}/{plan.id}/move/sideways", data={"csrf_token": token}).status_code == 404


def test_an_unanswered_question_is_edited_and_deleted(manager_client: FlaskClient) -> None:
    call = make_call(state="draft")
    level, staff, _ = with_questions(call)
    path = f"/manage/calls/{call.id}/questions/{level.id}/edit"
    assert 'BSL-1\nBSL-2' in manager_client.get(path).get_data(as_text=True)
    response = manager_client.post(path, data={"csrf_token": csrf_token(manager_client, path), "label": "Level",
                                               "variant": "single_choice", "options": "BSL-1\nBSL-2\nBSL-3"})
    assert response.status_code == 302
    assert [o.label for o in questions_of(call)[0].options] == ["BSL-1", "BSL-2", "BSL-3"]
    token = csrf_token(manager_client, f"/manage/calls/{call.id}/questions")
    assert manager_client.post(f"/manage/calls/{call.id}/questions/{staff.id}/delete",
                               data={"csrf_token": token}).status_code == 302
    assert [q.label for q in questions_of(call)] == ["Level", "Plan"]


def test_an_answered_question_cannot_be_edited_or_deleted(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    level, _, _ = with_questions(call)
    application = make_application(make_user(Role.APPLICANT), call)
    db.session.add(QuestionAnswer(application_id=application.id, question_id=level.id,
                                  options=[level.options[0]]))
    db.session.commit()
    path = f"/manage/calls/{call.id}/questions/{level.id}/edit"
    response = manager_client.post(path, data={"csrf_token": csrf_token(manager_client, path), "label": "Level",
                                               "variant": "single_choice", "options": "BSL-1"})
    assert response.status_code == 409
    assert "“Biosafety level” cannot be changed: applicants have already answered it." in response.get_data(
        as_text=True)
    token = csrf_token(manager_client, f"/manage/calls/{call.id}/questions")
    response = manager_client.post(f"/manage/calls/{call.id}/questions/{level.id}/delete", data={"csrf_token": token})
    assert response.status_code == 409
    assert "cannot be deleted: applicants have already answered it." in response.get_data(as_text=True)
    assert [o.label for o in questions_of(call)[0].options] == ["BSL-1", "BSL-2"]


def test_question_pages_are_for_managers_only_and_ids_must_match(
        manager_client: FlaskClient, reviewer_client: FlaskClient, applicant_client: FlaskClient) -> None:
    call, other = make_call(), make_call()
    level, _, _ = with_questions(call)
    for client in (reviewer_client, applicant_client):
        assert client.get(f"/manage/calls/{call.id}/questions").status_code == 403
        assert client.get(f"/manage/calls/{call.id}/questions/{level.id}/edit").status_code == 403
    assert manager_client.get(f"/manage/calls/{other.id}/questions/{level.id}/edit").status_code == 404


# --- the applicant's step -------------------------------------------------------------------------

def start(applicant_client: FlaskClient, call: Call) -> Application:
    return make_application(applicant_client.user, call, complete=True)


def step_path(application: Application) -> str:
    return f"/applications/{application.id}/steps/questions"


def test_questions_step_appears_before_review_only_when_the_call_has_questions(
        applicant_client: FlaskClient) -> None:
    plain = start(applicant_client, make_call())
    assert applicant_client.get(step_path(plain)).status_code == 404
    call = make_call()
    with_questions(call)
    application = start(applicant_client, call)
    page = applicant_client.get(step_path(application)).get_data(as_text=True)
    assert "Questions for this call" in page and "Biosafety level" in page and "BSL-2" in page
    assert page.index("Questions for this call") < page.index("Review and submit")


def test_a_partial_draft_is_saved_and_submission_names_the_missing_required_answer(
        applicant_client: FlaskClient) -> None:
    call = make_call()
    level, staff, plan = with_questions(call)
    application = start(applicant_client, call)
    path = step_path(application)
    response = applicant_client.post(path, data={"csrf_token": csrf_token(applicant_client, path),
                                                 f"q-{level.id}": str(level.options[1].id), f"q-{staff.id}": "4"})
    assert response.status_code == 302
    rows = {row.question_id: row for row in db.session.scalars(select(QuestionAnswer))}
    assert [o.label for o in rows[level.id].options] == ["BSL-2"] and rows[staff.id].number_value == Decimal(4)
    review = f"/applications/{application.id}/steps/review"
    response = applicant_client.post(f"/applications/{application.id}/submit",
                                     data={"csrf_token": csrf_token(applicant_client, review), "consent": "y"})
    assert response.status_code == 409
    assert "Some answers are missing: Plan." in response.get_data(as_text=True)
    db.session.refresh(application)
    assert application.state == "draft"
    applicant_client.post(path, data={"csrf_token": csrf_token(applicant_client, path),
                                      f"q-{level.id}": str(level.options[1].id), f"q-{plan.id}": "Grow the team"})
    response = applicant_client.post(f"/applications/{application.id}/submit",
                                     data={"csrf_token": csrf_token(applicant_client, review), "consent": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(application)
    assert application.state == "submitted"
    # Emptying an optional answer removed it; the saved set is exactly the last one.
    assert {row.question_id for row in db.session.scalars(select(QuestionAnswer))} == {level.id, plan.id}


def test_malformed_answers_are_refused_named_and_kept_on_the_page(applicant_client: FlaskClient) -> None:
    call = make_call()
    level, staff, plan = with_questions(call)
    application = start(applicant_client, call)
    path = step_path(application)
    response = applicant_client.post(path, data={"csrf_token": csrf_token(applicant_client, path),
                                                 f"q-{staff.id}": "99", f"q-{plan.id}": "one two three four five six"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Enter a number of at most 50.00." in page
    assert "Keep this answer to at most 5 words (it has 6)." in page
    assert "one two three four five six</textarea>" in page and 'value="99"' in page
    assert db.session.scalars(select(QuestionAnswer)).all() == []


def test_an_option_of_another_question_is_refused(applicant_client: FlaskClient) -> None:
    call = make_call()
    level, staff, _ = with_questions(call)
    other = CallQuestion(position=3, variant="single_choice", label="Other", options=[
        QuestionOption(position=0, label="X")])
    call.questions.append(other)
    db.session.commit()
    application = start(applicant_client, call)
    path = step_path(application)
    response = applicant_client.post(path, data={"csrf_token": csrf_token(applicant_client, path),
                                                 f"q-{level.id}": str(other.options[0].id)})
    assert response.status_code == 400
    assert "Choose one of the options shown." in response.get_data(as_text=True)


def test_someone_elses_questions_step_is_not_found(applicant_client: FlaskClient, make_user) -> None:
    call = make_call()
    with_questions(call)
    theirs = make_application(make_user(Role.APPLICANT), call)
    assert applicant_client.get(step_path(theirs)).status_code == 404


# --- where answers are read ----------------------------------------------------------------------

def answered(call: Call, applicant) -> Application:
    level, staff, plan = with_questions(call)
    application = make_application(applicant, call, state="submitted", complete=True)
    db.session.add_all([
        QuestionAnswer(application_id=application.id, question_id=level.id, options=[level.options[1]]),
        QuestionAnswer(application_id=application.id, question_id=plan.id, text_value="Hire a chemist"),
    ])
    db.session.commit()
    return application


def test_managers_reviewers_and_the_applicant_see_the_answers(app, manager_client: FlaskClient,
                                                              reviewer_client: FlaskClient, make_user) -> None:
    call = make_call()
    applicant = make_user(Role.APPLICANT)
    application = answered(call, applicant)
    page = manager_client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert "Biosafety level" in page and "BSL-2" in page and "Hire a chemist" in page
    make_assignment(application, reviewer_client.user)
    db.session.commit()
    page = reviewer_client.get(f"/review/applications/{application.id}").get_data(as_text=True)
    assert "Biosafety level" in page and "Hire a chemist" in page
    owner = app.test_client()
    log_in(owner, applicant.email)
    assert "Hire a chemist" in owner.get(f"/applications/{application.id}").get_data(as_text=True)


def test_ranking_csv_has_one_column_per_question(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    answered(call, make_user(Role.APPLICANT))
    text = manager_client.get(f"/manage/calls/{call.id}/ranking.csv").get_data(as_text=True)
    header, first = text.lstrip("\ufeff").splitlines()[:2]
    assert header.endswith("Biosafety level,Lab staff,Plan")
    assert first.endswith("BSL-2,,Hire a chemist")


def test_the_applicants_export_includes_the_answers(app, make_user) -> None:
    call = make_call()
    applicant = make_user(Role.APPLICANT)
    answered(call, applicant)
    client = app.test_client()
    log_in(client, applicant.email)
    archive = zipfile.ZipFile(io.BytesIO(client.get("/account/export").data))
    exported = json.loads(archive.read("applications.json"))
    assert exported[0]["questions"] == [{"question": "Biosafety level", "answer": "BSL-2"},
                                        {"question": "Lab staff", "answer": ""},
                                        {"question": "Plan", "answer": "Hire a chemist"}]


# --- PDF upload questions ------------------------------------------------------------------------

def pdf_question(call: Call, required: bool = True) -> CallQuestion:
    question = CallQuestion(position=0, variant="pdf_upload", label="Lab safety plan", required=required)
    call.questions = [question]
    db.session.commit()
    return question


def test_a_pdf_answer_is_stored_as_a_document_and_replaced_by_a_new_upload(applicant_client: FlaskClient) -> None:
    call = make_call()
    question = pdf_question(call)
    application = start(applicant_client, call)
    path = step_path(application)
    response = applicant_client.post(path, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(applicant_client, path), f"q-{question.id}": (io.BytesIO(TINY_PDF), "safety.pdf")})
    assert response.status_code == 302, response.get_data(as_text=True)
    [answer] = db.session.scalars(select(QuestionAnswer)).all()
    assert answer.attachment.original_filename == "safety.pdf" and answer.attachment.kind == "other"
    page = applicant_client.get(path).get_data(as_text=True)
    assert "Uploaded:" in page and "safety.pdf" in page
    # Saving again without a file keeps it; a new file replaces it and its old document.
    applicant_client.post(path, content_type="multipart/form-data",
                          data={"csrf_token": csrf_token(applicant_client, path)})
    db.session.expire_all()
    assert db.session.scalars(select(QuestionAnswer)).one().attachment.original_filename == "safety.pdf"
    applicant_client.post(path, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(applicant_client, path), f"q-{question.id}": (io.BytesIO(TINY_PDF), "v2.pdf")})
    db.session.expire_all()
    assert db.session.scalars(select(QuestionAnswer)).one().attachment.original_filename == "v2.pdf"
    names = sorted(a.original_filename for a in db.session.get(Application, application.id).attachments)
    assert names == ["deck.pdf", "v2.pdf"]


def test_a_pdf_answer_that_is_not_a_pdf_is_refused_with_the_upload_checks_reason(
        applicant_client: FlaskClient) -> None:
    call = make_call()
    question = pdf_question(call)
    application = start(applicant_client, call)
    path = step_path(application)
    response = applicant_client.post(path, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(applicant_client, path), f"q-{question.id}": (io.BytesIO(b"hello"), "notes.txt")})
    assert response.status_code == 400
    assert "PDF" in response.get_data(as_text=True)
    assert db.session.scalars(select(QuestionAnswer)).all() == []
    assert [a.original_filename for a in db.session.get(Application, application.id).attachments] == ["deck.pdf"]


def test_a_required_pdf_question_blocks_submission_by_name(applicant_client: FlaskClient) -> None:
    call = make_call()
    pdf_question(call)
    application = start(applicant_client, call)
    review = f"/applications/{application.id}/steps/review"
    response = applicant_client.post(f"/applications/{application.id}/submit",
                                     data={"csrf_token": csrf_token(applicant_client, review), "consent": "y"})
    assert response.status_code == 409
    assert "Some answers are missing: Lab safety plan." in response.get_data(as_text=True)


def test_someone_elses_document_id_is_not_an_answer(applicant_client: FlaskClient, make_user) -> None:
    call = make_call()
    question = pdf_question(call)
    theirs = make_application(make_user(Role.APPLICANT), call, complete=True)
    application = start(applicant_client, call)
    try:
        store_answers(application, {question.id: str(theirs.attachments[0].id)}, utcnow())
    except AnswersInvalid as invalid:
        assert invalid.problems == {question.id: "Upload a PDF file."}
    else:
        raise AssertionError("another application's document was accepted")


def test_removing_the_document_from_the_attachments_step_removes_the_answer(applicant_client: FlaskClient) -> None:
    call = make_call()
    question = pdf_question(call)
    application = start(applicant_client, call)
    path = step_path(application)
    applicant_client.post(path, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(applicant_client, path), f"q-{question.id}": (io.BytesIO(TINY_PDF), "safety.pdf")})
    document = db.session.scalars(select(QuestionAnswer)).one().attachment
    attachments_step = f"/applications/{application.id}/steps/attachments"
    response = applicant_client.post(f"/applications/{application.id}/attachments/{document.id}/delete",
                                     data={"csrf_token": csrf_token(applicant_client, attachments_step)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalars(select(QuestionAnswer)).all() == []
    page = applicant_client.get(f"/applications/{application.id}/steps/review").get_data(as_text=True)
    assert "Lab safety plan" in page  # listed as missing again
