"""Japanese and English for the admin pages: words, numbers, dates and people's names.

The catalog is a plain dict per language (the UI has a few dozen strings); Babel does what
a dict cannot: localised numbers, percentages and dates in the user's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal, format_percent

from engine.contacts.fields import display_name

LANGUAGES = ("ja", "en")
DEFAULT_TIMEZONE = {"ja": "Asia/Tokyo", "en": "UTC"}

_WORDS: dict[str, dict[str, str]] = {
    "ja": {
        "skip": "本文へ移動",
        "nav": "メインメニュー",
        "dashboard": "配信ダッシュボード",
        "health": "稼働状況",
        "broadcasts": "一斉配信",
        "segments": "セグメント",
        "templates": "テンプレート",
        "analytics": "分析",
        "mailbox": "受信メール",
        "docs": "API ドキュメント",
        "login": "ログイン",
        "logout": "ログアウト",
        "email": "メールアドレス",
        "password": "パスワード",
        "login_failed": "メールアドレスまたはパスワードが正しくありません。",
        "login_throttled": "ログインの失敗が続いたため、しばらく待ってからお試しください。",
        "csrf_failed": "フォームの有効期限が切れました。もう一度お試しください。",
        "forbidden": "このページを表示する権限がありません。",
        "language": "表示言語",
        "switch": "切り替え",
        "signed_in_as": "ログイン中",
        "range": "期間",
        "last_24h": "過去24時間",
        "last_7d": "過去7日間",
        "last_30d": "過去30日間",
        "show": "表示",
        "alarms": "配信アラート",
        "no_alarms": "問題は見つかりませんでした。",
        "alarm_bounce_rate": "バウンス率が {value} です(基準 {threshold})。",
        "alarm_complaint_rate": "苦情率が {value} です(基準 {threshold})。",
        "alarm_deferring_domain": "{subject} への配信が保留されています({value})。",
        "over_time": "推移",
        "by_journey": "ジャーニー別",
        "by_campaign": "キャンペーン別",
        "by_template": "テンプレート別",
        "by_variant": "バリアント別",
        "by_domain": "受信ドメイン別",
        "csv": "CSV をダウンロード",
        "none": "(なし)",
        "empty": "この期間のデータはありません。",
        "key": "項目",
        "sent": "送信",
        "delivered": "配信",
        "deferred": "保留",
        "failed": "失敗",
        "bounced_hard": "ハードバウンス",
        "bounced_soft": "ソフトバウンス",
        "complained": "苦情",
        "unsubscribed": "配信停止",
        "opens_human": "開封(人)",
        "opens_machine": "開封(機械)",
        "unique_opens_human": "ユニーク開封(人)",
        "unique_opens_machine": "ユニーク開封(機械)",
        "clicks_human": "クリック(人)",
        "clicks_machine": "クリック(機械)",
        "unique_clicks_human": "ユニーククリック(人)",
        "unique_clicks_machine": "ユニーククリック(機械)",
        "bounce_rate": "バウンス率",
        "complaint_rate": "苦情率",
        "click_to_open": "開封後クリック率",
        "chart": "送信・開封・クリックの推移",
        "status": "状態",
        "status_ok": "正常",
        "status_degraded": "要確認",
        "reasons": "理由",
        "enrollments": "ジャーニー登録",
        "live": "進行中",
        "due": "実行待ち",
        "oldest_due": "最も古い実行待ち(秒)",
        "outbox": "アウトボックス",
        "pending": "未処理",
        "oldest_pending": "最も古い未処理(秒)",
        "queues": "キューの長さ",
        "broker": "ブローカー",
        "unreachable": "接続できません",
        "workers": "ワーカー",
        "alive": "稼働中",
        "scheduler": "スケジューラー",
        "leader": "リーダー",
        "no_leader": "リーダーなし",
        "errors": "エラー",
        "messages_failed_60m": "送信失敗(60分)",
        "webhooks_dead": "停止した Webhook",
        "smtp_errors": "SMTP エラー(60分、コード別)",
        "send_rate": "送信数(直近5分/60分)",
        "processes": "プロセス",
        "role": "役割",
        "host": "ホスト",
        "seen": "最終応答(秒前)",
        "probe_latency": "プローブ遅延(ms)",
        "checked_at": "確認日時",
        "tracking_backlog": "未処理のトラッキング",
        "tracking_lag": "トラッキング取り込みの遅れ",
        "seconds_short": "秒",
    },
    "en": {
        "skip": "Skip to content",
        "nav": "Main menu",
        "dashboard": "Delivery dashboard",
        "health": "Health",
        "broadcasts": "Broadcasts",
        "segments": "Segments",
        "templates": "Templates",
        "analytics": "Analytics",
        "mailbox": "Mailbox",
        "docs": "API docs",
        "login": "Sign in",
        "logout": "Sign out",
        "email": "Email",
        "password": "Password",
        "login_failed": "The email or password is not correct.",
        "login_throttled": "Too many failed sign-ins. Wait a few minutes and try again.",
        "csrf_failed": "This form has expired. Please try again.",
        "forbidden": "You do not have access to this page.",
        "language": "Language",
        "switch": "Switch",
        "signed_in_as": "Signed in as",
        "range": "Period",
        "last_24h": "Last 24 hours",
        "last_7d": "Last 7 days",
        "last_30d": "Last 30 days",
        "show": "Show",
        "alarms": "Deliverability alarms",
        "no_alarms": "Nothing to worry about.",
        "alarm_bounce_rate": "Bounce rate is {value} (threshold {threshold}).",
        "alarm_complaint_rate": "Complaint rate is {value} (threshold {threshold}).",
        "alarm_deferring_domain": "{subject} is deferring mail ({value}).",
        "over_time": "Over time",
        "by_journey": "By journey",
        "by_campaign": "By campaign",
        "by_template": "By template",
        "by_variant": "By variant",
        "by_domain": "By recipient domain",
        "csv": "Download CSV",
        "none": "(none)",
        "empty": "No data in this period.",
        "key": "Item",
        "sent": "Sent",
        "delivered": "Delivered",
        "deferred": "Deferred",
        "failed": "Failed",
        "bounced_hard": "Hard bounces",
        "bounced_soft": "Soft bounces",
        "complained": "Complaints",
        "unsubscribed": "Unsubscribes",
        "opens_human": "Opens (human)",
        "opens_machine": "Opens (machine)",
        "unique_opens_human": "Unique opens (human)",
        "unique_opens_machine": "Unique opens (machine)",
        "clicks_human": "Clicks (human)",
        "clicks_machine": "Clicks (machine)",
        "unique_clicks_human": "Unique clicks (human)",
        "unique_clicks_machine": "Unique clicks (machine)",
        "bounce_rate": "Bounce rate",
        "complaint_rate": "Complaint rate",
        "click_to_open": "Click-to-open",
        "chart": "Sent, opens and clicks over time",
        "status": "Status",
        "status_ok": "OK",
        "status_degraded": "Degraded",
        "reasons": "Reasons",
        "enrollments": "Enrollments",
        "live": "Live",
        "due": "Due",
        "oldest_due": "Oldest due (s)",
        "outbox": "Outbox",
        "pending": "Pending",
        "oldest_pending": "Oldest pending (s)",
        "queues": "Queue depths",
        "broker": "Broker",
        "unreachable": "unreachable",
        "workers": "Workers",
        "alive": "Alive",
        "scheduler": "Scheduler",
        "leader": "Leader",
        "no_leader": "no leader",
        "errors": "Errors",
        "messages_failed_60m": "Failed sends (60 min)",
        "webhooks_dead": "Dead webhooks",
        "smtp_errors": "SMTP errors (60 min, by code)",
        "send_rate": "Sent (last 5 / 60 min)",
        "processes": "Processes",
        "role": "Role",
        "host": "Host",
        "seen": "Last seen (s ago)",
        "probe_latency": "Probe latency (ms)",
        "checked_at": "Checked at",
        "tracking_backlog": "Tracking hits waiting",
        "tracking_lag": "Tracking ingest lag",
        "seconds_short": "s",
    },
}


def words(language: str) -> dict[str, str]:
    """The UI's strings in ``language`` (English for anything but Japanese)."""
    return _WORDS["ja" if language == "ja" else "en"]


def add_words(catalog: dict[str, dict[str, str]]) -> None:
    """Add a page module's strings; both languages must name the same keys."""
    if set(catalog["ja"]) != set(catalog["en"]):
        raise ValueError(f"ja/en keys differ: {sorted(set(catalog['ja']) ^ set(catalog['en']))}")
    for language in LANGUAGES:
        _WORDS[language].update(catalog[language])


def pick_language(accept_language: str | None) -> str:
    """Choose ``ja`` or ``en`` from an Accept-Language header; Japanese wins ties and silence."""
    best, best_q = "ja", -1.0
    for item in (accept_language or "").split(","):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q or (q == best_q and primary == "ja"):
            best, best_q = primary, q
    return best if best_q > 0 else "ja"


@dataclass(frozen=True, slots=True)
class Formats:
    """Format numbers, rates and times for one reader (language and time zone)."""

    language: str
    timezone: ZoneInfo

    def number(self, value: float) -> str:
        """``1,234`` (both languages group by thousands)."""
        return format_decimal(value, locale=self.language)

    def percent(self, value: float) -> str:
        """``2.5%`` with up to two decimals."""
        return format_percent(value, format="#,##0.##%", locale=self.language)

    def datetime(self, value: datetime) -> str:
        """A date and time in the reader's zone: ``2026/04/01 23:30`` or ``Apr 1, 2026, 11:30 PM``."""
        return format_datetime(value, format="short", tzinfo=self.timezone, locale=self.language)

    def name(self, given: str | None, family: str | None) -> str:
        """A person's name as the reader's language writes it (family name first in Japanese)."""
        return display_name(given, family, self.language)


def zone_for(name: str | None, language: str) -> ZoneInfo:
    """The named zone, or the language's default when the name is empty or unknown."""
    try:
        return ZoneInfo(name) if name else ZoneInfo(DEFAULT_TIMEZONE[language])
    except (KeyError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE[language])
