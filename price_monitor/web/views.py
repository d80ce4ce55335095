"""The price analyst's pages: alert inbox (bulk review), alert detail with the price chart,
product price history, price index, credit record, monitoring report download.

Every page reads through price_monitor.selectors (scoped to the user's region); another
party's alert or region answers 404. Writes go through one service each.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from parties.models import Role
from parties.web.access import role_required
from price_monitor.periods import PeriodError, period_check, period_of, period_shift
from price_monitor.selectors import alerts as alert_selectors
from price_monitor.selectors.history import peer_medians, price_history
from price_monitor.selectors.regions import region_or_404, user_default_region
from price_monitor.services.index import CATEGORIES, price_index_series
from price_monitor.services.report import alert_counts, price_report_build
from price_monitor.services.review import DECISIONS, ReviewError, price_alerts_review
from price_monitor.web import charts
from procurement.models import Product
from settlement.models import AlertEvent, AlertKind, AlertSeverity, AlertStatus

ANALYST_ROLES = (Role.PRICE_ANALYST, Role.ADMIN)
CREDIT_ROLES = (Role.PRICE_ANALYST, Role.ADMIN, Role.ENTERPRISE)
PAGE_SIZE = 50
STATUS_FILTERS = {
    "": alert_selectors.REVIEWABLE_STATUSES,
    "all": (),
    **{s: (s,) for s in AlertStatus.values},
}
MSG_REVIEWED = _("已处理 {n} 条预警 / {n} alerts {decision}")
MSG_BAD_PERIOD = _("月份格式须为 YYYY-MM / period must be YYYY-MM")
REFERENCE_LABELS = {
    "listing": _("挂网价 / listing"),
    "province_min": _("外省最低价 / province min"),
    "national_min": _("全国最低价 / national min"),
    "retail": _("药店零售价 / retail"),
    "baseline": _("集采前均价 / baseline"),
}


def _period_param(value: str | None, default: str) -> str:
    if not value:
        return default
    try:
        return period_check(value)
    except PeriodError:
        raise Http404(MSG_BAD_PERIOD) from None


def _this_month() -> str:
    from django.utils import timezone

    return period_of(timezone.localdate())


@role_required(*ANALYST_ROLES)
@require_GET
def inbox(request):
    g = request.GET
    filters = {
        "kind": g.get("kind", "") if g.get("kind", "") in alert_selectors.PRICE_KIND_VALUES else "",
        "severity": g.get("severity", "") if g.get("severity", "") in AlertSeverity.values else "",
        "product": g.get("product", "").strip(),
        "hospital": g.get("hospital", "").strip(),
        "enterprise": g.get("enterprise", "").strip(),
        "period": g.get("period", "").strip(),
    }
    status = g.get("status", "")
    qs = alert_selectors.price_alerts_filtered(
        request.user, status=STATUS_FILTERS.get(status, STATUS_FILTERS[""]), **filters
    )
    page = Paginator(qs, PAGE_SIZE).get_page(g.get("page"))
    rows = list(page.object_list)
    names = alert_selectors.names_for(rows)
    query = g.copy()
    query.pop("page", None)
    return render(
        request,
        "price_monitor/inbox.html",
        {
            "page": page,
            "rows": [_row(a, names) for a in rows],
            "filters": filters,
            "status": status,
            "kinds": [(k, AlertKind(k).label) for k in alert_selectors.PRICE_KIND_VALUES],
            "severities": AlertSeverity.choices,
            "statuses": [("", _("待处理 / to review")), ("all", _("全部 / all")), *AlertStatus.choices],
            "query": query.urlencode(),
            "next": request.get_full_path(),
            "report_period": filters["period"] or period_shift(_this_month(), -1),
            "default_region": user_default_region(request.user),
        },
    )


def _row(alert, names: alert_selectors.Names) -> dict:
    product = alert_selectors.product_code_of(alert)
    return {
        "alert": alert,
        "product_code": product,
        "product_name": names.products.get(product, ""),
        "hospital_name": names.hospitals.get(alert.hospital_code, ""),
        "enterprise_name": names.enterprises.get(alert.enterprise_code, ""),
        "reviewable": alert.status in alert_selectors.REVIEWABLE_STATUSES,
    }


@role_required(*ANALYST_ROLES)
@require_POST
def review(request):
    nos = request.POST.getlist("alert_no")
    decision = request.POST.get("decision", "")
    back = request.POST.get("next") or reverse("price_inbox")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("price_inbox")
    alert_selectors.price_alerts_or_404(request.user, nos, request=request)
    try:
        result = price_alerts_review(
            alert_nos=nos, decision=decision, reason=request.POST.get("reason", ""), user=request.user
        )
    except ReviewError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    verb = {"confirm": "confirmed", "dismiss": "dismissed"}.get(decision, decision)
    messages.success(request, str(MSG_REVIEWED).format(n=len(result.alert_nos), decision=verb))
    return redirect(back)


@role_required(*ANALYST_ROLES)
@require_GET
def alert_detail(request, alert_no: str):
    alert = alert_selectors.price_alert_or_404(request.user, alert_no, request=request)
    names = alert_selectors.names_for([alert])
    product = alert_selectors.product_code_of(alert)
    last = alert.period or period_of(alert.last_seen_on)
    history = price_history(
        product_code=product, region_code=alert.region_code, last_period=last, hospital_code=alert.hospital_code
    ).trimmed()
    chart = _history_chart(history, highlight=alert.period, title=f"{product} {alert.region_code}")
    peers_chart = None
    if alert.kind == AlertKind.PRICE_OUTLIER:
        prefix = alert.evidence.get("peer_region_prefix", alert.region_code[:2])
        peers = peer_medians(product_code=product, period=alert.period, region_prefix=prefix)
        peers_chart = charts.strip_chart(
            title=str(_("同级医院中位价分布 / peers' median prices")),
            values=peers.medians,
            highlight=alert.hospital_code,
            median=peers.median,
            threshold=alert.threshold,
        )
    events = AlertEvent.objects.filter(alert=alert).select_related("user").order_by("at", "id")
    return render(
        request,
        "price_monitor/alert_detail.html",
        {
            "alert": alert,
            "row": _row(alert, names),
            "chart": chart,
            "peers_chart": peers_chart,
            "history": history,
            "events": events,
            "evidence": [(EVIDENCE_LABELS.get(k, k), _evidence_text(v)) for k, v in sorted(alert.evidence.items())],
            "reviewable": alert.status in alert_selectors.REVIEWABLE_STATUSES,
            "decisions": list(DECISIONS),
        },
    )


# What each evidence key means, for the analyst (keys stay English in the stored JSON).
EVIDENCE_LABELS = {
    "award_price": _("中选价 / award price"),
    "excess_amount": _("超出金额 / amount above reference"),
    "high_value_price": _("高值药品门槛 / high-value threshold"),
    "hospitals": _("医院数 / hospitals"),
    "lines": _("订单明细数 / order lines"),
    "listing_price": _("挂网价 / listing price"),
    "listing_region": _("挂网地区 / listing region"),
    "listing_region_code": _("挂网地区 / listing region"),
    "mad": _("绝对中位差 / MAD"),
    "median_price": _("中位价 / median price"),
    "order_line_ids": _("订单明细 / order lines"),
    "order_lines": _("订单明细 / order lines"),
    "peer_hospitals": _("同类医院数 / peer hospitals"),
    "peer_median": _("同类中位价 / peer median"),
    "peer_region_prefix": _("比较地区 / peer region"),
    "prev_lines": _("上月明细数 / previous month's lines"),
    "previous_lines": _("上月明细数 / previous month's lines"),
    "previous_median_price": _("上月中位价 / previous month's median"),
    "price": _("价格 / price"),
    "price_units": _("价格(1/10000元) / price (1/10000 yuan)"),
    "qty": _("数量 / quantity"),
    "ratio": _("比值 / ratio"),
    "reference_price": _("参考价 / reference price"),
    "reference_region_code": _("参考价地区 / reference region"),
    "reference_source": _("参考价来源 / reference source"),
    "retail_price": _("零售价 / retail price"),
    "robust_z": _("稳健Z值 / robust z"),
    "round_code": _("集采批次 / round"),
    "spike_threshold": _("涨幅阈值 / spike threshold"),
    "supply_region_code": _("供应地区 / supply region"),
    "tolerance": _("容差 / tolerance"),
}


def _evidence_text(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def _history_chart(history, *, highlight: str | None, title: str):
    lines = [
        charts.Line(
            name=str(_("地区中位价 / region median")),
            values=history.stat_series("median"),
            color=charts.PALETTE["transaction"],
        )
    ]
    if history.hospital:
        lines.append(
            charts.Line(
                name=str(_("本院中位价 / hospital median")),
                values=history.series(history.hospital),
                color=charts.PALETTE["hospital"],
            )
        )
    if history.award:
        lines.append(
            charts.Line(
                name=str(_("中选价 / award")),
                values=history.series(history.award),
                color=charts.PALETTE["award"],
                step=True,
                dashed=True,
                markers=False,
            )
        )
    for source, values in history.references.items():
        lines.append(
            charts.Line(
                name=str(REFERENCE_LABELS[source]),
                values=history.series(values),
                color=charts.PALETTE[source],
                step=True,
                dashed=True,
                markers=False,
            )
        )
    band = charts.Band(
        name=str(_("最低–最高 / min–max")),
        low=history.stat_series("low"),
        high=history.stat_series("high"),
        color=charts.PALETTE["transaction"],
    )
    return charts.time_chart(
        title=title, periods=history.periods, lines=lines, bands=[band], unit="元/包装", highlight=highlight
    )


@role_required(*ANALYST_ROLES)
@require_GET
def product_history(request, product_code: str):
    product = Product.objects.filter(code=product_code).first()
    if product is None:
        raise Http404(product_code)
    region = region_or_404(request.user, request.GET.get("region"), request=request)
    last = _period_param(request.GET.get("period"), _this_month())
    history = price_history(product_code=product_code, region_code=region.code, last_period=last, months=24).trimmed()
    return render(
        request,
        "price_monitor/product_history.html",
        {
            "product": product,
            "region": region,
            "period": last,
            "history": history,
            "chart": _history_chart(history, highlight=None, title=f"{product} {region.name}"),
            "months": [(p, history.stats.get(p), history.award.get(p)) for p in reversed(history.periods)],
        },
    )


@role_required(*ANALYST_ROLES)
@require_GET
def index_page(request):
    region = region_or_404(request.user, request.GET.get("region"), request=request)
    base = request.GET.get("base") or None
    if base:
        base = _period_param(base, base)
    series = {c: price_index_series(region_code=region.code, category=c, base_period=base) for c in CATEGORIES}
    periods = sorted({p.period for c in CATEGORIES for p in series[c]})
    lines = [
        charts.Line(
            name=str(label),
            values=[{p.period: p.value for p in series[c]}.get(m) for m in periods],
            color=charts.PALETTE[c],
        )
        for c, label in (("drug", _("药品 / drugs")), ("consumable", _("医用耗材 / consumables")))
        if series[c]
    ]
    chart = charts.time_chart(
        title=f"{region.name} {_('价格指数 / price index')}",
        periods=periods,
        lines=lines,
        markers=[charts.Marker(name=str(_("基期 = 100 / base = 100")), value=100)],
        unit=str(_("指数 / index")),
    )
    table = [(m, *({p.period: p for p in series[c]}.get(m) for c in CATEGORIES)) for m in periods]
    return render(
        request,
        "price_monitor/index.html",
        {"region": region, "base": base or "", "chart": chart, "table": table},
    )


@role_required(*CREDIT_ROLES)
@require_GET
def credit_list(request):
    summaries = alert_selectors.credit_summaries(request.user)
    return render(request, "price_monitor/credit_list.html", {"summaries": summaries})


@role_required(*CREDIT_ROLES)
@require_GET
def credit_detail(request, credit_code: str):
    summary, alerts = alert_selectors.credit_record(request.user, enterprise_code=credit_code)
    if summary is None:
        raise Http404(credit_code)
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    names = alert_selectors.names_for(rows)
    return render(
        request,
        "price_monitor/credit_detail.html",
        {"summary": summary, "page": page, "rows": [_row(a, names) for a in rows]},
    )


@role_required(*ANALYST_ROLES)
@require_GET
def report_download(request):
    region = region_or_404(request.user, request.GET.get("region"), request=request)
    period = _period_param(request.GET.get("period"), period_shift(_this_month(), -1))
    report = price_report_build(region_code=region.code, period=period)
    response = HttpResponse(report.content, content_type=report.content_type)
    response["Content-Disposition"] = f'attachment; filename="{report.filename}"'
    return response


@role_required(*ANALYST_ROLES)
@require_GET
def report_page(request):
    region = region_or_404(request.user, request.GET.get("region"), request=request)
    period = _period_param(request.GET.get("period"), period_shift(_this_month(), -1))
    counts = alert_counts(region_code=region.code, period=period)
    return render(
        request,
        "price_monitor/report.html",
        {
            "region": region,
            "period": period,
            "counts": [(AlertKind(k).label, counts.get(k, 0)) for k in alert_selectors.PRICE_KIND_VALUES],
        },
    )
