"""The botbuilder `ActivityHandler` that connects Teams turns to docbot's core.

Per turn:
- `message` with text: claim the delivery (the Bot Connector redelivers on timeouts), show the
  typing indicator while the core works, then post the rendered reply in the same conversation
  and thread. Every addressed message gets an answer or a clear reason, never silence.
- `message` whose `value` is our card's 👍/👎 `Action.Submit`: store the feedback, say thanks.
- `invoke` `message/submitAction`: Teams' built-in feedback control; store it, answer 200 `{}`.
- `conversationUpdate` that adds the bot: a welcome message saying what it does and how to ask.

All outbound sends go through `retry.with_retry` (429/412/502/504 with backoff and jitter).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid

from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ResourceResponse

from adapters.core_api import BotLike
from adapters.teams import cards, parse
from adapters.teams.retry import RetryPolicy, with_retry
from bot import messages
from bot.logs import redact_token_shapes
from bot.types import IncomingMessage, Reply, Turn

log = logging.getLogger(__name__)

TYPING_INTERVAL_S = 3.0  # Teams hides the typing indicator after a few seconds
FEEDBACK_TTL_S = 30 * 86400.0  # how long a message id maps to its answer, for the built-in feedback
HISTORY_TTL_S = 7 * 86400.0  # how long a channel thread's turns are kept for follow-ups
# Follow-ups in channel threads: bots cannot read a thread's history without extra (RSC/Graph)
# permissions, so the adapter remembers the last turns it took part in, per thread.
HISTORY_TURNS = 6
STALE_CARD_TEXT = (
    "That button is from an older message and isn't active anymore. "
    "Ask your question again to get a fresh answer."
)


class DocbotTeamsHandler(ActivityHandler):
    def __init__(
        self,
        bot: BotLike,
        *,
        retry_policy: RetryPolicy | None = None,
        render_options: cards.RenderOptions | None = None,
        typing_interval_s: float = TYPING_INTERVAL_S,
    ) -> None:
        super().__init__()
        self._bot = bot
        self._retry = retry_policy or RetryPolicy()
        self._render = render_options or cards.RenderOptions()
        self._typing_interval_s = typing_interval_s
        # Teams' built-in feedback names the rated message by its id, not by our answer id,
        # and channel threads carry no history we can fetch: both live in the state store,
        # so any replica can serve the next turn.

    # ------------------------------------------------------------------ sending

    async def send(self, turn_context: TurnContext, activity: Activity) -> ResourceResponse | None:
        """Send one activity in the turn's conversation/thread, retrying transient failures."""
        return await with_retry(lambda: turn_context.send_activity(activity), self._retry)

    async def send_all(
        self, turn_context: TurnContext, activities: list[Activity]
    ) -> list[ResourceResponse | None]:
        return [await self.send(turn_context, activity) for activity in activities]

    async def send_reply(
        self, turn_context: TurnContext, reply: Reply, *, delivered: list[Activity] | None = None
    ) -> None:
        """Post the rendered reply; `delivered` collects what got through (for partial failures)."""
        for activity in cards.render_reply(reply, self._render):
            response = await self.send(turn_context, activity)
            if delivered is not None:
                delivered.append(activity)
            data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
            if reply.answer_id and "feedbackLoop" in data and response and response.id:
                await self._remember(response.id, reply.answer_id)

    async def _remember(self, message_id: str, answer_id: str) -> None:
        try:
            await asyncio.to_thread(
                self._bot.store.put, f"teams:msg:{message_id}", answer_id, FEEDBACK_TTL_S
            )
        except Exception as error:  # the answer was delivered; only its built-in feedback is lost
            log.warning(
                "teams: could not remember message %s: %s", message_id, type(error).__name__
            )

    async def _send_typing(self, turn_context: TurnContext) -> None:
        """One typing indicator, no retries: failing only costs the indicator."""
        try:
            await turn_context.send_activity(Activity(type=ActivityTypes.typing))
        except Exception as error:  # noqa: BLE001 - cosmetic, never fail the turn for it
            log.info("teams typing indicator failed: %s", type(error).__name__)

    async def _keep_typing(self, turn_context: TurnContext) -> None:
        """Renew the typing indicator until cancelled (Teams hides it after a few seconds)."""
        while True:
            await asyncio.sleep(self._typing_interval_s)
            await self._send_typing(turn_context)

    # ------------------------------------------------------------------ messages

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        feedback = parse.card_feedback(activity)
        if feedback is not None:
            thanks = await self._record_feedback(feedback)
            await self.send_all(turn_context, cards.plain_text(thanks, self._render))
            return

        msg = parse.to_incoming_message(activity)
        if not msg.text and activity.value is not None:
            # A submit from a card we no longer understand (e.g. an old card version).
            await self.send_all(turn_context, cards.plain_text(STALE_CARD_TEXT))
            return
        # Empty text (an image, a bare mention) still goes to the core, which answers with a
        # hint in the user's language.

        store = self._bot.store
        key = parse.event_key(activity)
        if not await asyncio.to_thread(store.claim_event, key):
            # A redelivery of a message that is done or still being answered by another attempt.
            log.info("teams: skipping repeated delivery %s", activity.id)
            return

        delivered: list[Activity] = []
        try:
            await self._send_typing(turn_context)
            typing = asyncio.create_task(self._keep_typing(turn_context))
            try:
                reply = await self._answer(msg)
            finally:
                typing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await typing
            await self.send_reply(turn_context, reply, delivered=delivered)
        except BaseException:
            # Nothing delivered: give the claim back so the connector's redelivery is answered.
            # Part of the answer delivered: keep it done rather than post the answer twice.
            finish = store.complete_event if delivered else store.release_event
            with contextlib.suppress(Exception):
                await asyncio.to_thread(finish, key)
            raise
        await asyncio.to_thread(store.complete_event, key)

    async def _answer(self, msg: IncomingMessage) -> Reply:
        thread = self._thread_key(msg)
        if thread:
            msg.history = await self._load_turns(thread)
        try:
            reply = await self._bot.handle(msg)
        except Exception:  # the core should not raise; if it does, the user still gets a reason
            reference = uuid.uuid4().hex[:8]
            log.exception("teams: answering failed (reference %s)", reference)
            return Reply(text=cards.error_text(reference), is_command=True)
        # Only a question and its answer: a thread keeps few turns, and a command, a
        # "thanks!" or a bare mention (the core's replies to those are commands or
        # ephemeral) would push the thread's question out.
        asked = not (reply.is_command or reply.ephemeral or reply.declined)
        if thread and asked:
            turns = [*msg.history, Turn("user", msg.text), Turn("assistant", reply.text)]
            await self._save_turns(thread, turns[-HISTORY_TURNS:])
        return reply

    async def _load_turns(self, thread: str) -> list[Turn]:
        try:
            raw = await asyncio.to_thread(self._bot.store.get, f"teams:thread:{thread}")
            return [Turn(t["role"], t["text"]) for t in json.loads(raw)] if raw else []
        except Exception as error:  # no history is a worse follow-up, not a failure
            log.warning("teams: could not read thread history: %s", type(error).__name__)
            return []

    async def _save_turns(self, thread: str, turns: list[Turn]) -> None:
        # kept a week in the shared store: a pasted token is kept redacted, as in the logs
        value = json.dumps(
            [{"role": t.role, "text": redact_token_shapes(t.text)} for t in turns],
            ensure_ascii=False,
        )
        try:
            await asyncio.to_thread(
                self._bot.store.put, f"teams:thread:{thread}", value, HISTORY_TTL_S
            )
        except Exception as error:
            log.warning("teams: could not keep thread history: %s", type(error).__name__)

    @staticmethod
    def _thread_key(msg: IncomingMessage) -> str:
        """Channel threads only: 1:1 and group chats have no threads to scope a follow-up."""
        if not msg.thread_id:
            return ""
        return f"{msg.workspace_id}:{msg.conversation_id}:{msg.thread_id}"

    # ------------------------------------------------------------------ feedback

    async def _record_feedback(self, feedback: parse.Feedback) -> str:
        answer_id = feedback.answer_id
        if not answer_id and feedback.reply_to_id:
            answer_id = (
                await asyncio.to_thread(self._bot.store.get, f"teams:msg:{feedback.reply_to_id}")
                or ""
            )
        if not answer_id:
            log.info("teams: feedback for unknown message %s", feedback.reply_to_id)
            return "Thanks for the feedback. (I couldn't match it to a recent answer.)"
        return await self._bot.record_feedback(answer_id, "teams", feedback.user_id, feedback.value)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        feedback = parse.builtin_feedback(turn_context.activity)
        if feedback is not None:
            try:
                await self._record_feedback(feedback)
            except Exception:  # noqa: BLE001 - Teams shows its own confirmation; answer 200 anyway
                log.exception("teams: storing built-in feedback failed")
            # Teams wants 200 with an empty JSON object for message/submitAction.
            return InvokeResponse(status=200, body={})
        return await super().on_invoke_activity(turn_context)

    # ------------------------------------------------------------------ welcome

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        if not parse.bot_was_added(turn_context.activity):
            return  # someone else joined a team or chat the bot is in: stay quiet
        activity = turn_context.activity
        lang = messages.resolve_language("auto", "", activity.locale or "")
        text = cards.welcome_text(activity.recipient.name or "", lang)
        await self.send_all(turn_context, cards.plain_text(text))


async def on_turn_error(turn_context: TurnContext, error: Exception) -> None:
    """Last resort for errors outside `on_message_activity`'s own handling: log and tell the user."""
    reference = uuid.uuid4().hex[:8]
    # The exception type and reference only: messages of connector errors can echo request data.
    log.error(
        "teams turn failed (reference %s): %s", reference, type(error).__name__, exc_info=error
    )
    if turn_context.activity.type != ActivityTypes.message:
        return
    with contextlib.suppress(Exception):
        await turn_context.send_activity(
            Activity(type=ActivityTypes.message, text=cards.error_text(reference))
        )
