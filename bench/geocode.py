"""Benchmark of the offline geocoder: throughput, split by method and accuracy on synthetic noisy addresses.

Builds a ~10,000-entry gazetteer (streets, communities, roads × door numbers, estates × buildings, aliases)
around Chengdu and 100,000 addresses drawn from it with residents' noise (province/city/district
prefixes, noise words, Chinese numerals, full-width digits, 幢/号楼/# variants, homophone and random
typos) plus 10 % addresses of places not in the gazetteer, all from a fixed seed. Prints figures; no
assertions. Run: ``.venv/bin/python bench/geocode.py [--addresses N] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import numpy as np
import pandas as pd

from gridgis.ingest.geocode import Gazetteer, Geocoder

log = logging.getLogger("bench.geocode")

NAME_CHARS = list("锦城华府金沙蓝天翠苑阳光春江花月明珠龙湖中海万科保利南北东西新嘉和盛世名都御景丽水香榭"
                  "紫荆桂林凤凰山河德福康泰安宁雅致清溪枫叶梧桐怡心宏远兴隆鑫源鸿运祥瑞")
ESTATE_SUFFIX = ["花园", "小区", "家园", "苑", "公寓", "新村", "华庭", "雅居", "广场", "名城"]
ROAD_SUFFIX = ["路", "街", "巷", "大道", "北路", "南路", "东街", "西街"]
# Homophones an input method offers for the same pinyin (the commonest kind of typo in residents' text).
HOMOPHONE = {"园": "圆", "城": "成", "锦": "金", "华": "化", "苑": "院", "花": "华", "景": "井", "新": "心",
             "家": "佳", "湖": "胡", "江": "将", "龙": "隆", "阳": "杨", "光": "广", "明": "名", "府": "付",
             "天": "添", "山": "衫", "河": "和", "安": "按", "宁": "凝", "源": "元", "祥": "翔", "路": "露",
             "街": "接", "海": "还", "水": "税", "香": "乡", "林": "琳", "心": "新", "雅": "亚", "区": "去"}
CN = "零一二三四五六七八九"
PREFIXES = ["", "", "", "四川省成都市武侯区", "成都市武侯区", "成都市", "武侯区", "成都"]
NOISE = ["", "", "", "", "附近", "旁边", "对面", "门口", "楼下", "周边", "那边", "里面"]
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def cn_number(n: int) -> str:
    if n < 10:
        return CN[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN[tens]) + "十" + ("" if ones == 0 else CN[ones])


def unique_names(rng: np.random.Generator, count: int, suffixes: list[str], taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        name = "".join(rng.choice(NAME_CHARS, 2)) + str(rng.choice(suffixes))
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


def make_gazetteer(rng: np.random.Generator) -> pd.DataFrame:
    taken: set[str] = set()
    rows = []
    streets = unique_names(rng, 8, ["街道"], taken)
    street_xy = rng.uniform([104.00, 30.58], [104.12, 30.70], size=(8, 2))
    for name, (x, y) in zip(streets, street_xy, strict=True):
        rows.append(dict(name=name, level="street", subdistrict=name, lng=x, lat=y))
    communities = unique_names(rng, 48, ["社区"], taken)
    comm_street = rng.integers(0, 8, 48)
    comm_xy = street_xy[comm_street] + rng.normal(0, 0.008, size=(48, 2))
    for name, s, (x, y) in zip(communities, comm_street, comm_xy, strict=True):
        rows.append(dict(name=name, level="community", subdistrict=streets[s], community=name, lng=x, lat=y))
    for road in unique_names(rng, 250, ROAD_SUFFIX, taken):
        c = int(rng.integers(0, 48))
        start = comm_xy[c] + rng.normal(0, 0.004, 2)
        step = rng.normal(0, 0.0004, 2)
        for number in range(1, 17):
            x, y = start + step * number
            rows.append(dict(name=f"{road}{number}号", level="door", road=road, number=f"{number}号",
                             community=communities[c], subdistrict=streets[comm_street[c]], lng=x, lat=y))
    for estate in unique_names(rng, 700, ESTATE_SUFFIX, taken):
        c = int(rng.integers(0, 48))
        x, y = comm_xy[c] + rng.normal(0, 0.004, 2)
        alias = estate[:2] + "小区" if rng.random() < 0.3 and estate[:2] + "小区" not in taken else ""
        taken.add(alias)
        common = dict(community=communities[c], subdistrict=streets[comm_street[c]], estate=estate)
        rows.append(dict(name=estate, aliases=alias, level="estate", lng=x, lat=y,
                         households=int(rng.integers(100, 2000)), **common))
        for b in range(1, 8):
            rows.append(dict(name=f"{estate}{b}栋", level="building", building=f"{b}栋",
                             lng=x + rng.normal(0, 0.0003), lat=y + rng.normal(0, 0.0003), **common))
    frame = pd.DataFrame(rows)
    frame["province"], frame["city"], frame["district"] = "四川省", "成都市", "武侯区"
    return frame


def typo(rng: np.random.Generator, text: str) -> str:
    """One wrong character: a homophone (80 %) or any pool character."""
    positions = [i for i, c in enumerate(text) if c in HOMOPHONE] if rng.random() < 0.8 else []
    if positions:
        i = int(rng.choice(positions))
        return text[:i] + HOMOPHONE[text[i]] + text[i + 1:]
    i = int(rng.integers(0, len(text)))
    return text[:i] + str(rng.choice(NAME_CHARS)) + text[i + 1:]


def make_addresses(rng: np.random.Generator, gaz: pd.DataFrame, n: int) -> tuple[list[str], np.ndarray]:
    """Addresses and the gazetteer row each one names (-1: a place the gazetteer does not hold)."""
    fine = gaz.index[gaz["level"].isin(["door", "building", "estate"])].to_numpy()
    level = gaz["level"].to_numpy()
    texts, truth = [], np.full(n, -1)
    taken = set(gaz["name"]) | set(gaz["road"].dropna()) | set(gaz["aliases"].dropna())
    for i in range(n):
        if rng.random() < 0.10:  # a place we do not know
            fake = unique_names(rng, 1, ESTATE_SUFFIX + ROAD_SUFFIX, taken)[0]
            body = fake + (f"{rng.integers(1, 30)}号" if rng.random() < 0.5 else "")
        else:
            e = int(rng.choice(fine))
            truth[i] = e
            row = gaz.loc[e]
            if level[e] == "door":
                num = int(row["number"][:-1])
                name, tail = row["road"], (cn_number(num) if rng.random() < 0.3 else str(num)) + \
                    str(rng.choice(["号", "号", "号院"]))
            else:
                name = row["estate"]
                alias = gaz.at[gaz.index[(gaz["name"] == name) & (gaz["level"] == "estate")][0], "aliases"]
                if isinstance(alias, str) and alias and rng.random() < 0.5:
                    name = alias
                tail = ""
                if level[e] == "building":
                    b = int(row["building"][:-1])
                    number = cn_number(b) if rng.random() < 0.3 else str(b)
                    tail = number + str(rng.choice(["栋", "栋", "幢", "号楼", "#楼", "座"]))
                    if rng.random() < 0.4:
                        tail += f"{rng.integers(1, 5)}单元"
            if rng.random() < 0.15:
                name = typo(rng, name)
            body = name + tail
            if rng.random() < 0.1:
                body = str(row["community"]) + body
        text = str(rng.choice(PREFIXES)) + body + str(rng.choice(NOISE))
        if rng.random() < 0.1:
            text = text.translate(FULLWIDTH)
        if rng.random() < 0.05:
            text = text[:2] + " " + text[2:]
        texts.append(text)
    return texts, truth


def score(result: pd.DataFrame, gaz: pd.DataFrame, truth: np.ndarray) -> dict[str, float]:
    known = truth >= 0
    t = np.where(known, truth, 0)
    lng, lat = result["lng"].to_numpy(), result["lat"].to_numpy()
    same = (lng == gaz["lng"].to_numpy()[t]) & (lat == gaz["lat"].to_numpy()[t])
    located = ~np.isnan(lng)
    # Right but coarse: a building answered with its own estate, anything with its own 社区.
    places = gaz[gaz["level"].isin(["estate", "community"])].set_index(["level", "name"])
    coarse = np.zeros(len(t), dtype=bool)
    for level, part in (("estate", "estate"), ("community", "community")):
        key = pd.MultiIndex.from_arrays([np.full(len(t), level), gaz[part].to_numpy()[t]])
        where = places.reindex(key)
        coarse |= (result["level"].to_numpy() == level) & (lng == where["lng"].to_numpy()) & \
            (lat == where["lat"].to_numpy())
    coarse &= known & ~same
    return {
        "exact place (known addresses)": (same & known).sum() / known.sum(),
        "right estate/社区, coarser level": coarse.sum() / known.sum(),
        "wrong place (known addresses)": (known & located & ~same & ~coarse).sum() / known.sum(),
        "not located (known addresses)": (known & ~located).sum() / known.sum(),
        "false match (unknown addresses)": (~known & located).sum() / max((~known).sum(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    rng = np.random.default_rng(args.seed)
    frame = make_gazetteer(rng)
    t0 = time.perf_counter()
    gazetteer = Gazetteer.from_frame(frame)
    t_load = time.perf_counter() - t0
    texts, truth = make_addresses(rng, frame, args.addresses)
    addresses = pd.Series(texts)
    # Gazetteer.from_frame may drop duplicates; map truth rows to the loaded entries by line.
    loaded = gazetteer.entries.set_index("line")
    gaz = loaded.reindex(frame.index + 2).reset_index(drop=True)

    builds, runs, result = [], [], None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        geocoder = Geocoder(gazetteer)
        builds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = geocoder.geocode(addresses)
        runs.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    geocoder.geocode(addresses)
    warm = time.perf_counter() - t0

    n = len(addresses)
    levels = {k: int(v) for k, v in gazetteer.entries["level"].value_counts().items()}
    log.info("gazetteer: %d entries (%s), loaded in %.2f s; index built in %.2f s (median of %d)",
             len(gazetteer), levels, t_load, statistics.median(builds), args.repeat)
    log.info("addresses: %d (%d unique after normalisation), %.1f %% not in the gazetteer",
             n, geocoder.normalize(addresses).nunique(), 100 * (truth < 0).mean())
    log.info("cold cache: %.2f s median of %d → %.0f addresses/s (target ≥ 5,000/s); runs %s",
             statistics.median(runs), args.repeat, n / statistics.median(runs),
             ", ".join(f"{r:.2f}" for r in runs))
    log.info("warm cache: %.2f s → %.0f addresses/s", warm, n / warm)
    log.info("by method: %s", {k: f"{v / n:.1%}" for k, v in result["method"].value_counts().items()})
    log.info("by level: %s", {k: f"{v / n:.1%}" for k, v in result["level"].value_counts().items()})
    for name, value in score(result, gaz, truth).items():
        log.info("%-34s %.2f %%", name, 100 * value)


if __name__ == "__main__":
    main()
