"""The map's user-interface strings in Chinese (default) and English, and the choice of language."""

from __future__ import annotations

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

# key: (zh, en). The page renders its fixed labels from this table and hands the chosen column to
# gridgis.js, so both the server and the browser speak from one source.
STRINGS: dict[str, tuple[str, str]] = {
    "title": ("社区诉求热力图", "Residents' demand map"),
    "filters": ("筛选", "Filters"),
    "metric": ("指标", "Metric"),
    "metric_n": ("诉求数", "Requests"),
    "metric_rate": ("每百户诉求", "Per 100 households"),
    "metric_gi": ("热点分析 (Gi*)", "Hot spots (Gi*)"),
    "metric_trend": ("时空趋势", "Emerging trend"),
    "categories": ("类别", "Categories"),
    "all": ("全部", "All"),
    "none": ("清空", "None"),
    "time": ("时间", "Time"),
    "since": ("起", "From"),
    "until": ("止", "To"),
    "preset_7d": ("近7天", "7 days"),
    "preset_30d": ("近30天", "30 days"),
    "preset_quarter": ("近一季", "Quarter"),
    "preset_year": ("近一年", "Year"),
    "preset_all": ("全部时间", "All time"),
    "type": ("诉求类型", "Request type"),
    "status": ("办理状态", "Status"),
    "grid": ("网格", "Grid"),
    "any": ("不限", "Any"),
    "reset": ("重置", "Reset"),
    "language": ("English", "中文"),
    "overview": ("数据概览", "Data overview"),
    "logout": ("退出登录", "Log out"),
    "role_admin": ("管理员", "Administrator"),
    "role_secretary": ("社区书记", "Secretary"),
    "role_grid_worker": ("网格员", "Grid worker"),
    "role_viewer": ("查看者", "Viewer"),
    "legend": ("图例", "Legend"),
    "loading": ("加载中…", "Loading…"),
    "load_failed": ("加载失败", "Loading failed"),
    "no_data": ("当前范围内没有诉求", "No requests in this view"),
    "close": ("关闭", "Close"),
    "layer_demand": ("需求热力", "Demand"),
    "layer_grids": ("网格", "Grids"),
    "layer_hotspots": ("热点", "Hot spots"),
    "layer_zones": ("重点区域", "Priority zones"),
    "layer_points": ("诉求点", "Requests"),
    "layer_projects": ("项目候选", "Project candidates"),
    "cell": ("网格单元", "Cell"),
    "resolution": ("分辨率", "Resolution"),
    "requests": ("诉求", "Requests"),
    "total": ("合计", "Total"),
    "by_category": ("按类别", "By category"),
    "monthly": ("按月", "Monthly"),
    "request_list": ("诉求列表", "Requests"),
    "more": ("更多", "More"),
    "households": ("户数", "Households"),
    "per_100": ("每百户", "per 100 households"),
    "change": ("较上期", "vs previous period"),
    "trend": ("趋势", "Trend"),
    "zone": ("重点区域", "Priority zone"),
    "new_zone": ("新建重点区域", "New priority zone"),
    "edit_zone": ("编辑区域", "Edit zone"),
    "name": ("名称", "Name"),
    "category": ("类别", "Category"),
    "priority": ("优先级", "Priority"),
    "notes": ("备注", "Notes"),
    "save": ("保存", "Save"),
    "cancel": ("取消", "Cancel"),
    "delete": ("删除", "Delete"),
    "confirm_delete": ("确定删除该区域？（可在历史记录中找回）", "Delete this zone? (it stays in the history)"),
    "saved": ("已保存", "Saved"),
    "area_km2": ("面积 (km²)", "Area (km²)"),
    "hot99": ("热点 99% 置信", "Hot spot, 99% confidence"),
    "hot95": ("热点 95% 置信", "Hot spot, 95% confidence"),
    "hot90": ("热点 90% 置信", "Hot spot, 90% confidence"),
    "not_sig": ("不显著", "Not significant"),
    "cold90": ("冷点 90% 置信", "Cold spot, 90% confidence"),
    "cold95": ("冷点 95% 置信", "Cold spot, 95% confidence"),
    "cold99": ("冷点 99% 置信", "Cold spot, 99% confidence"),
    "created_at": ("时间", "Time"),
    "address": ("地址", "Address"),
    "reporter": ("反映人", "Reporter"),
    "draw_hint": ("用左侧工具画多边形或矩形来新建重点区域", "Draw a polygon or rectangle to add a zone"),
    "projects_button": ("项目候选", "Projects"),
    "project": ("项目候选", "Project candidate"),
    "no_projects": ("当前筛选下没有项目候选", "No project candidates for these filters"),
    "score": ("得分", "Score"),
    "pts_volume": ("规模", "Volume"),
    "pts_significance": ("显著性", "Significance"),
    "pts_growth": ("增长", "Growth"),
    "pts_severity": ("严重度", "Severity"),
    "issues": ("问题", "Issues"),
    "cells_n": ("网格单元数", "Cells"),
    "area_ha": ("面积 (公顷)", "Area (ha)"),
    "keywords": ("关键词", "Keywords"),
    "texts": ("代表性诉求", "Representative requests"),
    "make_zone": ("设为重点区域", "Make priority zone"),
    "zone_made": ("已设为重点区域", "Priority zone created"),
    "back_to_list": ("返回列表", "Back to list"),
    "overdue": ("超期", "Overdue"),
    "due_at": ("办理时限", "Due"),
    "workflow": ("办理", "Workflow"),
    "history": ("办理记录", "History"),
    "no_history": ("尚无状态变更", "No status changes yet"),
    "change_to": ("改为", "Change to"),
    "note": ("说明", "Note"),
    "note_required": ("须填写说明", "a note is required"),
    "note_hint": ("改为无效、重复，退回或重新处置时须说明原因",
                  "Say why when closing as invalid or duplicate, sending back or reopening"),
    "status_saved": ("状态已更新", "Status updated"),
}

DRAW_STRINGS: dict[str, tuple[str, str]] = {
    "polygon": ("画多边形区域", "Draw a polygon zone"),
    "rectangle": ("画矩形区域", "Draw a rectangle zone"),
    "finish": ("完成", "Finish"),
    "undo": ("撤销最后一点", "Delete last point"),
    "cancel": ("取消", "Cancel"),
    "edit": ("编辑区域", "Edit zones"),
    "remove": ("删除区域", "Delete zones"),
    "save": ("保存", "Save"),
    "clear_all": ("全部删除", "Clear all"),
    "poly_start": ("点击开始画区域", "Click to start drawing"),
    "poly_cont": ("点击继续画", "Click to continue drawing"),
    "poly_end": ("点击第一个点结束", "Click the first point to finish"),
    "rect_start": ("按住并拖动画矩形", "Click and drag to draw a rectangle"),
    "release": ("松开鼠标完成", "Release the mouse to finish"),
    "edit_tip": ("拖动顶点修改区域", "Drag handles to edit"),
    "remove_tip": ("点击要删除的区域", "Click a zone to delete it"),
}


def pick_lang(value: str | None) -> str:
    """The language asked for (``zh``/``en``, also ``zh-CN``, ``en-US``); anything else → Chinese."""
    v = (value or "").strip().lower().replace("_", "-").split("-")[0]
    return v if v in LANGS else DEFAULT_LANG


def strings(lang: str) -> dict[str, str]:
    col = LANGS.index(pick_lang(lang))
    return {k: v[col] for k, v in STRINGS.items()}


def draw_strings(lang: str) -> dict[str, str]:
    col = LANGS.index(pick_lang(lang))
    return {k: v[col] for k, v in DRAW_STRINGS.items()}
