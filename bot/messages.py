"""Every sentence the bot says on its own, in English and Korean.

`t(key, lang, **values)` picks the language (falling back to English) and
fills the placeholders. `detect_language(text)` chooses from the question's
script; a user's locale or `/docbot language` override wins over it.
"""

from __future__ import annotations

from rag.tokenize import is_cjk

SUPPORTED = ("en", "ko")

MESSAGES: dict[str, dict[str, str]] = {
    "placeholder": {
        "en": "Searching the docs…",
        "ko": "문서를 찾아보는 중입니다…",
    },
    "decline": {
        "en": "I couldn't find this in the docs, so I won't guess. Try rephrasing, or name the product or feature you mean.",
        "ko": "문서에서 이 내용을 찾지 못해 추측하지 않겠습니다. 질문을 바꾸어 보거나 제품·기능 이름을 함께 적어 주세요.",
    },
    "decline_nearest": {
        "en": "I couldn't find this in the docs, so I won't guess. These sections come closest, but may not answer it: {links}",
        "ko": "문서에서 이 내용을 찾지 못해 추측하지 않겠습니다. 가장 가까운 섹션은 다음과 같지만, 답이 아닐 수 있습니다: {links}",
    },
    "no_index": {
        "en": "No documentation is indexed yet. An admin can run `/docbot reingest` (or `docbot ingest` on the server).",
        "ko": "아직 색인된 문서가 없습니다. 관리자가 `/docbot reingest`(서버에서는 `docbot ingest`)를 실행하면 됩니다.",
    },
    "empty": {
        "en": "No answer could be generated. Please try again.",
        "ko": "답변을 만들지 못했습니다. 다시 시도해 주세요.",
    },
    "index_unavailable": {
        "en": "I can't reach the docs index right now, so I can't answer from the docs. Please try again in a minute.",
        "ko": "지금 문서 색인에 연결할 수 없어 문서 기반으로 답할 수 없습니다. 잠시 후 다시 시도해 주세요.",
    },
    "empty_question": {
        "en": "Ask me a question about the docs, or type `/docbot help`.",
        "ko": "문서에 대해 질문해 주세요. 사용법은 `/docbot help`로 볼 수 있습니다.",
    },
    "acknowledged": {
        "en": "You're welcome! Ask me anything else about the docs.",
        "ko": "천만에요! 문서에 대해 더 궁금한 점이 있으면 물어보세요.",
    },
    "too_long": {
        "en": "That question is {length} characters long; the limit is {limit}. Please shorten it.",
        "ko": "질문이 {length}자입니다. 최대 {limit}자까지 받을 수 있으니 줄여 주세요.",
    },
    "rate_limited": {
        "en": "You're asking faster than I can keep up with. Please wait {seconds} seconds and try again.",
        "ko": "질문이 너무 빠르게 이어지고 있습니다. {seconds}초 후에 다시 시도해 주세요.",
    },
    "overloaded": {
        "en": "I'm answering too many questions right now to take yours. Please ask again in a minute.",
        "ko": "지금 처리 중인 질문이 너무 많아 받을 수 없습니다. 1분 후에 다시 질문해 주세요.",
    },
    "error": {
        "en": "Something went wrong while answering ({reason}). Please try again in a moment.",
        "ko": "답변하는 중에 문제가 생겼습니다({reason}). 잠시 후 다시 시도해 주세요.",
    },
    "no_rag_extractive": {
        "en": "RAG is off and the offline answerer only quotes the docs, so I can't answer without them. Turn docs back on with `/docbot rag on`, or choose an LLM with `/docbot model`.",
        "ko": "RAG가 꺼져 있고 오프라인 답변기는 문서를 인용만 하므로 답할 수 없습니다. `/docbot rag on`으로 문서 검색을 켜거나 `/docbot model`로 LLM을 고르세요.",
    },
    "feedback_thanks_up": {
        "en": "Thanks for the feedback! 👍",
        "ko": "피드백 감사합니다! 👍",
    },
    "feedback_thanks_down": {
        "en": "Thanks, noted. 👎 We use this to improve the docs and the answers.",
        "ko": "알려 주셔서 감사합니다. 👎 답변과 문서 개선에 활용하겠습니다.",
    },
    "feedback_unknown": {
        "en": "I couldn't match that feedback to an answer; it may be too old.",
        "ko": "이 피드백에 해당하는 답변을 찾지 못했습니다. 오래된 답변일 수 있습니다.",
    },
    "feedback_unavailable": {
        "en": "I couldn't save your feedback just now. Please click again in a minute.",
        "ko": "지금은 피드백을 저장하지 못했습니다. 잠시 후 다시 눌러 주세요.",
    },
    "help": {
        "en": (
            "*docbot* answers questions from the documentation, with links to the sections it used.\n"
            "Ask in a DM, or mention me in a channel. In a thread I answer follow-ups too.\n\n"
            "*Commands* (`/docbot …`, or type `docbot …`):\n"
            "• `help`: this message\n"
            "• `status`: current settings, index version and model health\n"
            "• `model <name>`: choose the model ({models})\n"
            "• `rag on|off`: answer from the docs, or from the model alone\n"
            "• `temperature <0..1>`: how creative the model may be\n"
            "• `length short|medium|long`: answer length\n"
            "• `language en|ko|auto`: reply language\n"
            "• `reset`: back to the defaults\n"
            "• `reingest`, `stats`: admins only"
        ),
        "ko": (
            "*docbot*은 문서를 근거로 질문에 답하고, 참고한 섹션 링크를 함께 보여 줍니다.\n"
            "DM으로 묻거나 채널에서 저를 멘션하세요. 스레드에서는 후속 질문에도 답합니다.\n\n"
            "*명령어* (`/docbot …` 또는 `docbot …`):\n"
            "• `help`: 이 안내\n"
            "• `status`: 현재 설정, 색인 버전, 모델 상태\n"
            "• `model <이름>`: 모델 선택 ({models})\n"
            "• `rag on|off`: 문서 기반 답변 켜기/끄기\n"
            "• `temperature <0..1>`: 답변의 창의성\n"
            "• `length short|medium|long`: 답변 길이\n"
            "• `language en|ko|auto`: 답변 언어\n"
            "• `reset`: 기본값으로 되돌리기\n"
            "• `reingest`, `stats`: 관리자 전용"
        ),
    },
    "unknown_command": {
        "en": "I don't know the command `{command}`. Try `/docbot help`.",
        "ko": "`{command}` 명령은 알 수 없습니다. `/docbot help`를 입력해 보세요.",
    },
    "bad_value": {
        "en": "`{command}` expects {expected}; got `{value}`.",
        "ko": "`{command}`에는 {expected} 값이 필요합니다. 입력값: `{value}`",
    },
    # the parts `bad_value` is filled with, so a Korean reply has no English in it
    "bad_value_number": {
        "en": "a number from 0 to 1",
        "ko": "0에서 1 사이의 숫자",
    },
    "bad_value_one_of": {
        "en": "{choices} or {last}",
        "ko": "{choices}, {last} 중 하나의",
    },
    "bad_value_nothing": {
        "en": "(nothing)",
        "ko": "(없음)",
    },
    "unknown_model": {
        "en": "I don't know the model `{value}`. Available: {models}.",
        "ko": "`{value}` 모델은 없습니다. 사용 가능한 모델: {models}",
    },
    "models": {
        "en": "Models you can choose: {models}. Pick one with `/docbot model <name>`.",
        "ko": "선택할 수 있는 모델: {models}. `/docbot model <이름>`으로 고르세요.",
    },
    "set_model": {
        "en": "Model set to *{value}* for this conversation.",
        "ko": "이 대화의 모델을 *{value}*(으)로 바꿨습니다.",
    },
    "set_rag_on": {
        "en": "Answers will use the docs (RAG on).",
        "ko": "이제 문서를 근거로 답합니다(RAG 켜짐).",
    },
    "set_rag_off": {
        "en": "RAG is off: answers come from the model alone, without the docs.",
        "ko": "RAG를 껐습니다. 문서 없이 모델만으로 답합니다.",
    },
    "set_temperature": {
        "en": "Temperature set to {value}.",
        "ko": "temperature를 {value}(으)로 바꿨습니다.",
    },
    "set_length": {
        "en": "Answer length set to *{value}*.",
        "ko": "답변 길이를 *{value}*(으)로 바꿨습니다.",
    },
    "set_language": {
        "en": "Reply language set to *{value}*.",
        "ko": "답변 언어를 *{value}*(으)로 바꿨습니다.",
    },
    "reset": {"en": "Settings reset to the defaults.", "ko": "설정을 기본값으로 되돌렸습니다."},
    "admin_only": {
        "en": "Sorry, `{command}` is for docbot admins only. Ask an admin if you need it.",
        "ko": "죄송합니다. `{command}`는 docbot 관리자만 쓸 수 있습니다. 필요하면 관리자에게 요청해 주세요.",
    },
    "reingest_started": {
        "en": "Re-ingest started. I'll post progress here; I keep answering from the current docs meanwhile.",
        "ko": "문서 재수집을 시작했습니다. 진행 상황을 여기에 알려 드리며, 그동안에도 기존 문서로 답합니다.",
    },
    "reingest_running": {
        "en": "A re-ingest is already running; I'll report when it finishes.",
        "ko": "이미 재수집이 진행 중입니다. 끝나면 알려 드리겠습니다.",
    },
    "reingest_unavailable": {
        "en": "Re-ingest isn't set up here: set DOCBOT_INGEST_SOURCE (a folder, links file or sitemap) first.",
        "ko": "재수집이 설정되지 않았습니다. 먼저 DOCBOT_INGEST_SOURCE(폴더, 링크 파일, 사이트맵)를 설정하세요.",
    },
    "status": {
        "en": (
            "*Settings here*: model `{model}`, RAG {rag}, temperature {temperature}, length {length}, language {language}\n"
            "*Index*: {index}\n*Last ingest*: {ingest}\n*Models*: {health}\n*Declines*: {declines}"
        ),
        "ko": (
            "*현재 설정*: 모델 `{model}`, RAG {rag}, temperature {temperature}, 길이 {length}, 언어 {language}\n"
            "*색인*: {index}\n*마지막 수집*: {ingest}\n*모델 상태*: {health}\n*답변 거절 기준*: {declines}"
        ),
    },
    "welcome": {
        "en": (
            "Hi, I'm docbot. I answer questions from the documentation and link the sections I used. "
            "Mention me with a question, or type `docbot help` for commands."
        ),
        "ko": (
            "안녕하세요, docbot입니다. 문서를 근거로 질문에 답하고 참고한 섹션 링크를 함께 드립니다. "
            "저를 멘션해 질문하거나 `docbot help`로 명령어를 확인하세요."
        ),
    },
    "sources": {"en": "Sources", "ko": "출처"},
    "footer": {
        "en": "{model} · {docs} · {seconds:.1f}s",
        "ko": "{model} · {docs} · {seconds:.1f}초",
    },
    "stats_title": {
        "en": "*docbot usage, last {days} days*",
        "ko": "*docbot 사용 현황, 최근 {days}일*",
    },
    "stats_answers": {
        "en": "Answers: {answers} · declined: {declined} ({rate})",
        "ko": "답변: {answers} · 거절: {declined} ({rate})",
    },
    "stats_unavailable": {
        "en": "Not searched (no index yet, index unavailable or RAG off): {count}",
        "ko": "문서를 검색하지 못한 질문(색인 없음, 색인 사용 불가, RAG 꺼짐): {count}",
    },
    "stats_no_feedback": {"en": "Feedback: none yet", "ko": "피드백: 아직 없음"},
    "stats_feedback": {
        "en": "Feedback: 👍 {up} · 👎 {down} ({ratio} positive)",
        "ko": "피드백: 👍 {up} · 👎 {down} (긍정 {ratio})",
    },
    "stats_latency": {
        "en": "Latency: p50 {p50:.1f}s · p95 {p95:.1f}s",
        "ko": "응답 시간: p50 {p50:.1f}초 · p95 {p95:.1f}초",
    },
    "stats_top_questions": {"en": "*Top questions*", "ko": "*자주 묻는 질문*"},
    "stats_doc_gaps": {
        "en": "*Doc gaps* (declined questions by topic)",
        "ko": "*문서 공백* (답하지 못한 질문, 주제별)",
    },
    "stats_doc_gap": {
        "en": "• {topic}: {questions} — e.g. “{example}”",
        "ko": "• {topic}: {questions} — 예: “{example}”",
    },
    "docs_used": {"en": "from the docs", "ko": "문서 기반"},
    "docs_not_used": {"en": "docs not used", "ko": "문서 미사용"},
    "updated": {"en": "updated {date}", "ko": "{date} 수정"},
    # the Slack footer: `Model: x · :books: answered from the docs · 1.2 s`
    "footer_model": {"en": "Model: {model}", "ko": "모델: {model}"},
    "footer_docs_used": {"en": ":books: answered from the docs", "ko": ":books: 문서 기반 답변"},
    "footer_docs_not_used": {"en": "no docs used", "ko": "문서 미사용"},
    "footer_declined": {"en": "no answer from the docs", "ko": "문서에서 답을 찾지 못함"},
    "footer_seconds": {"en": "{seconds:.1f} s", "ko": "{seconds:.1f}초"},
}


def t(key: str, lang: str = "en", **values: object) -> str:
    texts = MESSAGES[key]
    template = texts.get(lang) or texts["en"]
    return template.format(**values) if values else template


def _is_hangul(ch: str) -> bool:
    code = ord(ch)
    return 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F


def detect_language(text: str) -> str:
    """'ko' when the text is mostly Hangul among its letters, or when most of its words
    are Korean, else 'en'.

    A Korean question often names English products and terms ("Kubeflow 설치", "CML에서는
    왜 HTTP Events API 말고 Socket Mode를 써?"): their letters outnumber the Hangul, but
    the Korean words carry the grammar, so a Korean answer is what the asker expects.

    Japanese and Chinese are detected as their own codes for the LLM prompt
    ('ja', 'zh'); the bot's own messages fall back to English for them.
    """
    hangul = kana = han = latin = 0
    for ch in text:
        code = ord(ch)
        if _is_hangul(ch):
            hangul += 1
        elif 0x3040 <= code <= 0x30FF:
            kana += 1
        elif is_cjk(ch):
            han += 1
        elif ch.isalpha():
            latin += 1
    if hangul:
        words = text.split()
        korean_words = sum(any(map(_is_hangul, word)) for word in words)
        # a Korean sentence ends in Korean (its predicate or head noun: "… 설정 방법",
        # "… YAML 예제?"); a lone syllable at the end ("… arguments 예") is not enough
        ends_korean = bool(words) and sum(map(_is_hangul, words[-1])) >= 2
        if hangul * 3 >= latin or korean_words * 2 >= len(words) or ends_korean:
            return "ko"
    if kana and (kana + han) * 3 >= latin:
        return "ja"
    if han and han * 3 >= latin:
        return "zh"
    return "en"


def resolve_language(setting: str, text: str, locale: str = "") -> str:
    """The reply language: an explicit setting, else the question's script, else the locale."""
    if setting in SUPPORTED:
        return setting
    detected = detect_language(text)
    if detected != "en":
        return detected
    if locale:
        base = locale.replace("_", "-").split("-", 1)[0].lower()
        if base in SUPPORTED and not any(ch.isalpha() and ch.isascii() for ch in text):
            return base
        if base in SUPPORTED and not text.strip():
            return base
    return "en"
