"""The `gridgis` command line: a thin click wrapper over the library (the only place that prints)."""

from __future__ import annotations

import csv
import gc
import json
import logging
import sys
from pathlib import Path

import click

from gridgis.config import Settings, load_settings
from gridgis.errors import GridGISError
from gridgis.privacy import install_log_redaction

log = logging.getLogger("gridgis")


class Ctx:
    def __init__(self, config: str | None, overrides: dict) -> None:
        self.config = config
        self.overrides = overrides
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config, **self.overrides)
        return self._settings


pass_ctx = click.make_pass_decorator(Ctx)


class GridGISGroup(click.Group):
    """Turns gridgis errors into one clear message and exit status 2 instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GridGISError as exc:
            click.echo(f"错误 / error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=GridGISGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False), envvar="GRIDGIS_CONFIG",
              help="TOML settings file (also $GRIDGIS_CONFIG).")
@click.option("--database-url", help="Database URL, overriding the settings (also $GRIDGIS_DATABASE_URL).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="gridgis")
@click.pass_context
def main(ctx: click.Context, config: str | None, database_url: str | None, verbose: int) -> None:
    """gridgis — residents' requests on an H3 demand heatmap for community grid management (社区网格化管理).

    Settings come from defaults < the TOML file < GRIDGIS_* environment variables < command-line options.
    """
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()  # phone and ID-card numbers never reach the log (gridgis.privacy)
    ctx.obj = Ctx(config, {"database_url": database_url})


# -- db ---------------------------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """Create, upgrade and inspect the database."""


@db.command("init")
@pass_ctx
def db_init(c: Ctx) -> None:
    """Create the database schema (idempotent: an existing database is upgraded)."""
    from gridgis.storage import init_db

    store = init_db(c.settings)
    _sync_categories(store, c.settings)
    click.echo(f"数据库已就绪 / database ready: {store.url}")


@db.command("upgrade")
@pass_ctx
def db_upgrade(c: Ctx) -> None:
    """Apply pending schema migrations."""
    from gridgis.storage import init_db

    store = init_db(c.settings)
    click.echo(f"数据库已升级到最新结构 / database schema is current: {store.url}")


@db.command("status")
@pass_ctx
def db_status(c: Ctx) -> None:
    """Print what the database holds (JSON)."""
    from gridgis.storage import open_store

    click.echo(json.dumps(open_store(c.settings).summary(), ensure_ascii=False, indent=2))


def _sync_categories(store, settings: Settings) -> None:
    from gridgis.demo import sync_categories

    sync_categories(store, settings)


# -- ingest -----------------------------------------------------------------------------------------------

@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--source", help="Source system name used in request ids (default: the file name's stem).")
@click.option("--crs", help="Coordinate system of the file: wgs84 (default), gcj02, bd09, cgcs2000, EPSG:xxxx, PROJ.")
@click.option("--map", "maps", multiple=True, metavar="SOURCE=FIELD",
              help="Map a source column to a field (repeatable), e.g. --map 工单号=source_id.")
@click.option("--mapping-file", type=click.Path(dir_okay=False, exists=True),
              help="TOML/JSON/CSV file of 'source column = field' mappings.")
@click.option("--sheet", help="XLSX sheet name or 0-based index (default: the first).")
@click.option("--encoding", help="Text encoding of a CSV (default: detected; utf-8, gbk, gb18030…).")
@click.option("--time-format", help="strftime format of the time column, when detection is not enough.")
@click.option("--rejects", "rejects_file", type=click.Path(dir_okay=False),
              help="Write rejected rows (line, field, value, reason and the row) to this CSV.")
@click.option("--dry-run", is_flag=True, help="Check and report everything, store nothing.")
@pass_ctx
def ingest(c: Ctx, files, source, crs, maps, mapping_file, sheet, encoding, time_format, rejects_file,
           dry_run) -> None:
    """Import request files (CSV, XLSX, GeoJSON, GeoPackage, Shapefile) into the database."""
    from gridgis.ingest import columns
    from gridgis.ingest.pipeline import IngestContext, IngestOptions
    from gridgis.storage import init_db

    mapping = {}
    if mapping_file:
        mapping.update(columns.load_mapping_file(mapping_file))
    mapping.update(columns.parse_map_options(list(maps)))
    settings = c.settings
    store = init_db(settings)
    _sync_categories(store, settings)
    ctx = IngestContext.build(settings, store)
    all_problems = []
    for f in files:
        opts = IngestOptions(source=source, crs=crs, mapping=mapping,
                             sheet=int(sheet) if sheet and sheet.isdigit() else sheet, encoding=encoding,
                             time_format=time_format, dry_run=dry_run)
        report = _run_with_progress(f, settings, store, opts, ctx)
        _print_report(report)
        all_problems.extend((Path(f).name, p) for p in report.rejected)
    if rejects_file:
        _write_rejects(rejects_file, all_problems)
        click.echo(f"已写出被拒行 / rejected rows written to {rejects_file} ({len(all_problems)} problems)")


def _run_with_progress(path, settings, store, opts, ctx):
    from gridgis.ingest.pipeline import ingest_file

    if sys.stderr.isatty():
        with click.progressbar(length=0, label=f"导入 / importing {Path(path).name}",
                               file=sys.stderr, show_pos=True) as bar:
            def progress(n: int) -> None:
                bar.length = (bar.length or 0) + n
                bar.update(n)

            return ingest_file(path, settings, store, opts, ctx=ctx, progress=progress)
    return ingest_file(path, settings, store, opts, ctx=ctx)


def _print_report(report) -> None:
    d = report.to_dict()
    head = "试运行（未保存）/ dry run (nothing stored)" if report.dry_run else "导入完成 / imported"
    click.echo(f"{head}: {d['file']} (source {d['source']})")
    click.echo(
        f"  读取 read {d['read']} · 新增 stored {d['stored']} · 更新 updated {d['updated']} · "
        f"未变 unchanged {d['unchanged']} · 重复诉求 duplicates {d['duplicates']} · 拒绝 rejected {d['rejected']}"
    )
    if d["outside_grids"]:
        click.echo(f"  不在任何网格内 / outside all grids: {d['outside_grids']}")
    for title, key in (("拒绝原因 / rejected by reason", "rejected_by_reason"),
                       ("定位级别 / located by level", "geocoded_by_level"),
                       ("分类依据 / classified by rule", "classified_by_rule"),
                       ("类别 / per category", "per_category")):
        if d[key]:
            items = sorted(d[key].items(), key=lambda kv: (-kv[1], str(kv[0])))
            click.echo(f"  {title}: " + "; ".join(f"{k} {v}" for k, v in items))


def _write_rejects(path: str, problems) -> None:
    raw_keys: list[str] = []
    for _f, p in problems:
        for k in (p.raw or {}):
            if k not in raw_keys:
                raw_keys.append(k)
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "line", "field", "value", "reason", *raw_keys])
        for f, p in problems:
            raw = p.raw or {}
            w.writerow([f, p.line, p.field, p.value, p.reason, *[raw.get(k, "") for k in raw_keys]])


# -- grids ------------------------------------------------------------------------------------------------

@main.group()
def grids() -> None:
    """Official community grids (网格)."""


@grids.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--crs", help="CRS of the file when it declares none.")
@click.option("--reassign/--no-reassign", default=True,
              help="Re-assign stored requests to the imported grids (default: yes).")
@pass_ctx
def grids_import(c: Ctx, file, crs, reassign) -> None:
    """Import grid polygons (grid_code, name, community, grid worker) and assign requests to them."""
    from gridgis.grids import read_grids, reassign_requests
    from gridgis.storage import init_db

    store = init_db(c.settings)
    frame = read_grids(file, crs=crs)
    n = store.replace_grids(frame)
    click.echo(f"已导入网格 / grids imported: {n}")
    if reassign:
        counts = reassign_requests(store)
        click.echo(f"已重新分配诉求 / requests re-assigned: {counts['assigned']} in grids, "
                   f"{counts['outside']} outside all grids")


@grids.command("list")
@pass_ctx
def grids_list(c: Ctx) -> None:
    """List stored grids."""
    from gridgis.storage import open_store

    df = open_store(c.settings).grids_frame()
    for r in df.itertuples():
        click.echo(f"{r.grid_code}\t{r.name or ''}\t{r.community or ''}\t{r.grid_worker or ''}")


# -- classify ---------------------------------------------------------------------------------------------

def _read_labelled(file: str, text_col: str, label_col: str):
    from gridgis.errors import InvalidInputError
    from gridgis.ingest.readers import read_table

    t = read_table(file).frame
    for col, opt in ((text_col, "--text-col"), (label_col, "--label-col")):
        if col not in t.columns:
            raise InvalidInputError(
                f"列 {col!r} 不存在 / column {col!r} ({opt}) not in {file}; columns: {', '.join(map(str, t.columns))}",
                field=opt,
            )
    t = t[[text_col, label_col]].dropna()
    return t[text_col].astype(str).tolist(), t[label_col].astype(str).str.strip().tolist()


@main.group()
def classify() -> None:
    """Train and evaluate the optional text classifier."""


@classify.command("train")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--text-col", required=True, help="Column holding the request text.")
@click.option("--label-col", required=True, help="Column holding the category code.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to save the model (set classifier_model_file to use it).")
@pass_ctx
def classify_train(c: Ctx, file, text_col, label_col, output) -> None:
    """Train a text classifier on labelled requests."""
    from gridgis.classifier import train
    from gridgis.taxonomy import Taxonomy

    texts, labels = _read_labelled(file, text_col, label_col)
    Taxonomy.load(c.settings.taxonomy_file).check_codes(set(labels), field="--label-col")
    model = train(texts, labels)
    model.save(output)
    click.echo(f"模型已保存 / model saved to {output} ({len(texts)} labelled texts)")


@classify.command("eval")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--text-col", required=True, help="Column holding the request text.")
@click.option("--label-col", required=True, help="Column holding the category code.")
@click.option("--folds", default=5, show_default=True, help="Cross-validation folds.")
@pass_ctx
def classify_eval(c: Ctx, file, text_col, label_col, folds) -> None:
    """Cross-validated accuracy and macro-F1 of the classifier on labelled requests."""
    from gridgis.classifier import evaluate
    from gridgis.taxonomy import Taxonomy

    texts, labels = _read_labelled(file, text_col, label_col)
    Taxonomy.load(c.settings.taxonomy_file).check_codes(set(labels), field="--label-col")
    res = evaluate(texts, labels, folds=folds)
    click.echo(f"n={res['n']} folds={folds} accuracy={res['accuracy']:.3f} macro_f1={res['macro_f1']:.3f}")
    for label, f1 in sorted(res.get("per_class_f1", {}).items()):
        click.echo(f"  {label}\tF1 {f1:.3f}")


# -- demo and serve ---------------------------------------------------------------------------------------

@main.command()
@click.option("--data", "data_dir", type=click.Path(file_okay=False, exists=True),
              help="Folder holding manifest.toml and the sample files (default: the config file's folder, "
                   "else ./sample_data).")
@click.option("--serve/--no-serve", default=True, help="Serve the map after building (default: serve).")
@click.option("--host", help="Address to listen on (default from settings: 127.0.0.1).")
@click.option("--port", type=int, help="Port (default from settings: 8000).")
@click.option("--reset-passwords", is_flag=True, help="Give the demo users new passwords (and print them).")
@pass_ctx
def demo(c: Ctx, data_dir, serve, host, port, reset_passwords) -> None:
    """Build the demo database from the sample community and its users (one per role), then serve the map."""
    from gridgis.demo import build_demo, ensure_demo_users

    folder = Path(data_dir) if data_dir else (Path(c.config).parent if c.config else Path("sample_data"))
    reports = build_demo(c.settings, folder)
    for r in reports:
        _print_report(r)
    _print_demo_users(ensure_demo_users(c.settings, reset=reset_passwords))
    if serve:
        _serve(c.settings.with_overrides(host=host, port=port))


@main.command()
@click.option("--host", help="Address to listen on (default from settings: 127.0.0.1).")
@click.option("--port", type=int, help="Port (default from settings: 8000).")
@click.option("--threads", default=8, show_default=True, help="Worker threads of the WSGI server.")
@pass_ctx
def serve(c: Ctx, host, port, threads) -> None:
    """Serve the web map and JSON API with the production WSGI server (waitress)."""
    _serve(c.settings.with_overrides(host=host, port=port), threads=threads)


def _print_demo_users(users: list[dict]) -> None:
    click.echo("\n演示账号 / demo users (log in at /login):")
    for u in users:
        grids = f" [{u['grids']}]" if u["grids"] else ""
        password = u["password"] or "（未变 / unchanged: gridgis demo --reset-passwords）"
        click.echo(f"  {u['role']:<12} {u['username']:<11} {password}{grids}")


def _serve(settings: Settings, threads: int = 8) -> None:
    import waitress

    from webmap import create_app

    app = create_app(settings)
    # Objects built at start-up live for the whole process: keep them out of the cyclic GC's full
    # collections, whose ~90 ms pauses otherwise show up in request p95.
    gc.freeze()
    click.echo(f"地图已启动 / serving the map on http://{settings.host}:{settings.port}/  (Ctrl+C to stop)")
    waitress.serve(app, host=settings.host, port=settings.port, threads=threads)


def _register_command_modules() -> None:
    """Commands kept in their own modules (they import this one for the shared context)."""
    from gridgis import cli_heatmap

    cli_heatmap.register(main)  # heatmap, hotspots, trends, projects, raster
    __import__("gridgis.cli_export").cli_export.register(main)  # export KIND -o FILE
    __import__("gridgis.cli_archive").cli_archive.register(main)  # archive export PATH


_register_command_modules()
__import__("gridgis.cli_tokens").cli_tokens.register(main)  # tokens create/list/revoke, audit
__import__("gridgis.cli_users").cli_users.register(main)  # users add/list/disable/enable/reset-password
__import__("gridgis.cli_db").cli_db.register(main)  # db copy SRC_URL DST_URL
__import__("gridgis.cli_backup").cli_backup.register(main)  # db backup FILE, db restore FILE
__import__("gridgis.cli_requests").cli_requests.register(main)  # requests status/history/overdue

if __name__ == "__main__":  # pragma: no cover
    main()
