"""A thread's turns as the context of a question (`bot.history.question_history`): what the
thread asked and answered, without the messages that asked nothing."""

from __future__ import annotations

from bot.history import question_history
from bot.types import Turn

ASKED = Turn("user", "how do I install notebooks?")
ANSWERED = Turn("assistant", "Apply the notebook controller manifest [1].")


def test_questions_and_answers_are_kept_in_order() -> None:
    thread = [ASKED, ANSWERED, Turn("user", "ok, and that runs every night?")]
    assert question_history(thread, max_chars=2000) == thread


def test_a_typed_command_and_the_bots_reply_to_it_are_left_out() -> None:
    """`docbot rag off` typed in the thread (a DM posts its reply there) is no question:
    joined to "and for katib?" it would be searched instead of the thread's topic."""
    thread = [
        ASKED,
        ANSWERED,
        Turn("user", "docbot rag off"),
        Turn("assistant", "RAG is now *off* for this conversation."),
        Turn("user", "/docbot status"),
        Turn("assistant", "*Index*: 5 pages"),
        Turn("user", "/docbot nope"),  # an unknown command is still no question
        Turn("assistant", "Unknown command `nope`."),
    ]
    assert question_history(thread, max_chars=2000) == [ASKED, ANSWERED]


def test_thanks_and_okays_and_the_bots_reply_to_them_are_left_out() -> None:
    for said in ("thanks!", "Thank you 🙏", "ok", "Great, thx!!", "감사합니다!", "ty :pray:"):
        thread = [
            ASKED,
            ANSWERED,
            Turn("user", said),
            Turn("assistant", "I couldn't find this in the docs."),
        ]
        assert question_history(thread, max_chars=2000) == [ASKED, ANSWERED], said


def test_messages_without_words_are_left_out() -> None:
    """An emoji, a reaction typed as text, a bare mention of a colleague: nothing to search."""
    for said in (":+1:", "👍🎉", "@U0ALICE", "@alice @bob ?", "  "):
        thread = [ASKED, ANSWERED, Turn("user", said)]
        assert question_history(thread, max_chars=2000) == [ASKED, ANSWERED], said


def test_a_thanks_with_a_question_in_it_is_a_question() -> None:
    thread = [ASKED, ANSWERED, Turn("user", "thanks! and for katib?")]
    assert question_history(thread, max_chars=2000) == thread


def test_a_thread_the_bot_started_keeps_its_first_message() -> None:
    thread = [Turn("assistant", "Re-ingest finished: 3 pages changed."), ASKED]
    assert question_history(thread, max_chars=2000) == thread


def test_a_very_long_message_is_cut_to_the_question_limit_at_a_word() -> None:
    """A pasted log of 30,000 characters would be searched whole with the next follow-up;
    it is cut where the bot would refuse it as a question."""
    pasted = "error: pod notebook-0 failed to pull image " * 700
    [turn] = question_history([Turn("user", pasted)], max_chars=2000)
    assert len(turn.text) <= 2000
    assert pasted.startswith(turn.text)
    assert not turn.text.endswith(("erro", "noteboo"))  # cut between words
    long_answer = Turn("assistant", "word " * 3000)  # the prompt fits answers by tokens
    assert question_history([ASKED, long_answer], max_chars=2000)[1] == long_answer
