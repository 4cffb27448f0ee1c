"""Generate the synthetic sample community 锦华社区 (Chengdu) with planted demand structure, repeatably.

Everything here is fictional: the community, street, 小区, roads, grid workers, reporters and phone
numbers (random digits). Only the location (a real bbox in Chengdu's 武侯区) and the formats are real.
The same seed gives byte-identical files, XLSX included (fixed document times and zip entry times).

Run ``python sample_data/generate.py`` from the repository root (``--out DIR``, ``--seed N``;
``--truth`` also writes ``truth.csv``, the ground truth of every request, which is not committed).
Other code may ``build()`` the sample in memory and compare its ``requests`` (ground truth) with
what ingest and analytics found.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from gridgis.crs import from_wgs84

log = logging.getLogger("sample_data.generate")

SEED = 20251201
HERE = Path(__file__).resolve().parent
START = np.datetime64("2025-11-01T00:00:00", "s")
N_DAYS = 365  # 2025-11-01 … 2026-10-31, naive Asia/Shanghai local times
END = START + np.timedelta64(N_DAYS * 86400 - 1, "s")
TOTAL_REQUESTS = 6000
REPEAT_SHARE = 0.08
SHARE_PATROL, SHARE_WECHAT = 0.15, 0.25  # exact quotas for originals; 12345 gets the rest
FILES = {
    "community": "community.geojson", "grids": "grids.geojson", "gazetteer": "gazetteer.csv",
    "xlsx": "requests_12345.xlsx", "wechat": "wechat_messages_gbk.csv", "patrol": "patrol_reports.geojson",
    "bad_rows": "bad_rows.csv",
}
FIXED_TIME = datetime(2026, 12, 1, 8, 0, 0)  # XLSX document and zip entry times

# metres per degree at the community's latitude (local equirectangular is exact enough over 3 km)
M_LAT = 110_860.0
M_LNG = 111_320.0 * float(np.cos(np.radians(30.6375)))

PROVINCE, CITY, DISTRICT = "四川省", "成都市", "武侯区"
STREET, COMMUNITY, NEIGHBOUR = "芳华街道", "锦华社区", "锦东社区"
GRID_PREFIX = "510107" + "001" + "001"  # county 510107 (武侯区) + street 001 + community 001
BBOX = (104.045, 30.625, 104.075, 30.650)

# community boundary (WGS84, counter-clockwise, inside BBOX)
BOUNDARY = Polygon([
    (104.0452, 30.6268), (104.0520, 30.6252), (104.0610, 30.6257), (104.0700, 30.6251),
    (104.0748, 30.6282), (104.0743, 30.6380), (104.0748, 30.6468), (104.0718, 30.6498),
    (104.0620, 30.6493), (104.0530, 30.6499), (104.0456, 30.6480), (104.0461, 30.6372),
])
ROADS = {  # fictional names; WGS84 centre lines, all ≥ 35 m inside the boundary
    "玉华路": [(104.0466, 30.6400), (104.0738, 30.6400)],
    "芳华街": [(104.0466, 30.6320), (104.0738, 30.6320)],
    "金桂路": [(104.0470, 30.6272), (104.0712, 30.6272)],
    "棕树巷": [(104.0470, 30.6460), (104.0600, 30.6460)],
    "锦华路": [(104.0560, 30.6261), (104.0560, 30.6492)],
    "桂溪路": [(104.0680, 30.6259), (104.0680, 30.6490)],
    "红杉街": [(104.0495, 30.6266), (104.0495, 30.6470)],
    "紫荆巷": [(104.0620, 30.6400), (104.0620, 30.6489)],
}

# The planted structure (WGS84 lng, lat). README.md quotes these and a test keeps them in sync.
OLD_COMPOUND = (104.0525, 30.6430)  # 锦城花园: PROP lift and leak complaints rising over the year
NIGHT_MARKET = ((104.0590, 30.6320), (104.0670, 30.6320))  # 芳华街 segment: ORDER/ENV evenings, summer
SCHOOL_GATE = (104.0683, 30.6440)  # 锦华小学's gate on 桂溪路: PARK on school days
BIKE_SHED = (104.0524, 30.6300)  # 桂苑小区's bike shed: SAFE 飞线充电, evenings
ELDERLY = (104.0640, 30.6475)  # 颐年苑 and the elderly canteen next door: CARE
NEIGHBOUR_ESTATE = (104.0830, 30.6385)  # 锦东社区's 金色家园, outside the service area
NEIGHBOUR_CENTRE = (104.0850, 30.6400)
STREET_CENTRE = (104.0700, 30.6385)
PLANNED = {"old_compound": 640, "night_market": 720, "school_gate": 420, "bike_shed": 200, "elderly": 340,
           "neighbour": 4}

# 小区: name, aliases (俗称), centre (None = placed at random), buildings, households per building
ESTATES = [
    ("锦城花园", "锦城小区|老锦城", OLD_COMPOUND, 6, (24, 48)),
    ("桂苑小区", "桂苑", (104.0520, 30.6303), 4, (60, 120)),
    ("颐年苑", "颐年小区|颐年公寓", ELDERLY, 4, (48, 96)),
    ("金色家园", "", (104.0712, 30.6352), 4, (120, 180)),  # the same name exists in 锦东社区
    ("芳华苑", "芳华小区", None, 5, (60, 150)),
    ("玉华东苑", "玉华东区", None, 3, (36, 96)),
    ("华兴花园", "华兴小区", None, 5, (90, 180)),
    ("锦绣园", "锦绣小区", None, 4, (60, 120)),
    ("和平里小区", "和平里", None, 2, (24, 48)),
    ("翠竹苑", "", None, 3, (60, 120)),
    ("南苑小区", "南苑", None, 3, (48, 96)),
    ("银杏园", "", None, 4, (90, 160)),
    ("枫林苑", "枫林小区", None, 2, (36, 72)),
    ("电机厂宿舍", "电机厂家属院|电机厂", None, 3, (24, 40)),
    ("水电宿舍", "水电院", None, 2, (24, 36)),
    ("锦华公寓", "", None, 2, (120, 180)),
    ("芙蓉苑", "芙蓉小区", None, 4, (60, 140)),
    ("望江名居", "望江", None, 5, (120, 180)),
    ("紫荆花园", "紫荆小区", None, 4, (90, 150)),
    ("蓝天小区", "", None, 3, (48, 96)),
    ("书香苑", "", None, 3, (60, 120)),
    ("长城大院", "长城宿舍", None, 2, (24, 48)),
    ("清水湾", "清水湾小区", None, 6, (120, 180)),
    ("龙腾苑", "", None, 3, (60, 120)),
    ("金桂苑", "", None, 4, (72, 150)),
]
N_GATES = 18  # the first 18 小区 have a door plate (门牌) at their gate
ESTATE_SPACING_M = 230.0

GRID_WORKERS = ["李秀英", "王建华", "张丽娟", "刘洋", "陈静", "杨志强", "赵敏", "黄晓东"]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏")
MOBILE_PREFIXES = ["138", "139", "150", "151", "152", "158", "159", "135", "136", "137", "186", "187",
                   "188", "133", "153", "180", "189", "177", "199"]
CATEGORIES = ["SAFE", "FAC", "PROP", "PARK", "ENV", "ORDER", "CARE"]

# 12345 诉求类别 as operators pick them: (regex on the text, label), first match wins, per category
LABELS_12345 = {
    "SAFE": [("燃气|煤气", "燃气"), ("危房|塌陷", "房屋安全"), ("高空抛物|井盖|漏电|困人", "安全生产"),
             ("", "消防安全")],
    "FAC": [("停水|水压", "供水"), ("停电|线路", "供电"), ("下水道|积水|雨水", "排水"), ("", "市政设施")],
    "PROP": [("加装电梯|老旧小区改造", "城乡建设/老旧小区改造"), ("物业|业委会|维修基金|门禁", "物业管理"),
             ("", "房屋管理")],
    "PARK": [("车位|停车难", "停车管理"), ("", "交通管理")],
    "ENV": [("树|绿化|草坪|毁绿", "园林绿化"), ("", "环境卫生")],
    "ORDER": [("违建|扩建", "城乡建设/违法建设"), ("油烟|烧烤", "环境保护/餐饮油烟"),
              ("噪音|扰民|施工|装修|广场舞", "环境保护/噪声污染"), ("占道经营|摊", "城市管理/占道经营"),
              ("", "城市管理")],
    "CARE": [("低保", "民政/社会救助"), ("医疗|看病", "卫生健康"), ("托育", "教育"), ("", "民政/养老服务")],
}
BACKGROUND_SHARE = {"SAFE": .06, "FAC": .2, "PROP": .2, "PARK": .15, "ENV": .17, "ORDER": .12, "CARE": .10}
# where background requests happen, per category: building, 小区 as a whole, door plate, along a road
WHERE = np.array(["building", "estate", "door", "road"])
BACKGROUND_WHERE = {"SAFE": [.6, .1, .2, .1], "FAC": [.3, .1, .3, .3], "PROP": [.75, .25, 0, 0],
                    "PARK": [.3, .1, .35, .25], "ENV": [.5, .15, .2, .15], "ORDER": [.45, .1, .3, .15],
                    "CARE": [.6, .3, .1, 0]}
# how likely a grid worker rather than a resident reports it (housing and care are residents' matters)
PATROL_WEIGHT = {"SAFE": 2.0, "FAC": 1.5, "PROP": 0.3, "PARK": 1.5, "ENV": 2.0, "ORDER": 1.5, "CARE": 0.3}

# Text templates "<kind><scope>|text". kind: c complaint, h help, q question, s suggestion, r report (举报);
# scope: B only at a building or 小区, R only at a door plate or on a road, none = anywhere (templates
# naming {e} need a 小区). {p} place as residents say it, {e} the 小区, {t} a time word. Each carries a
# DOMAIN.md §2 keyword of its category and avoids keywords of categories that take precedence, with a few
# deliberate exceptions (电梯困人 is SAFE although 电梯 is a PROP word).
TEMPLATES = {
    "SAFE": [
        "cB|{p}楼道里有人飞线充电，电线从窗户吊下来，太危险了",
        "cB|{p}有住户把电动车推进电梯带回家充电，电动车进楼容易起火",
        "c|{p}消防通道被杂物堵死了，真出事消防车根本进不来",
        "h|{p}闻到很重的煤气味，怀疑燃气泄漏，请马上派人来看",
        "hB|{p}单元门口的配电箱漏电，小孩经常在旁边玩",
        "cB|{p}{t}有人高空抛物，差点砸到路过的人",
        "hB|{p}电梯困人，里面有老人，打物业电话没人接",
        "cR|{p}路边井盖缺失，晚上看不见很容易掉下去",
        "cB|{p}外墙开裂得厉害，感觉像危房，住着心里不踏实",
        "cR|{p}人行道路面塌陷了一个大坑，周围没有任何提示",
        "rB|举报{p}有人在地下室给电瓶飞线充电",
        "r|{p}有人长期占用消防通道停车",
        "qB|{p}发现有人电动车进楼充电，应该找谁处理？",
        "sB|建议{p}多装几个监控，防止高空抛物",
        "cR|{p}有家餐馆燃气泄漏的味道很重，担心出事",
    ],
    "FAC": [
        "c|{p}的路灯坏了好几天了，晚上黑漆漆的",
        "cR|{p}这段道路破损，坑坑洼洼，骑车容易摔",
        "c|{t}下了雨{p}积水很深，过不了人",
        "c|{p}下水道堵了，脏水漫到路上",
        "hB|{p}{t}突然停水，也没有通知，什么时候恢复？",
        "cB|{p}水压太低，楼上根本用不了热水器",
        "hB|{p}{t}停电了，家里还有老人",
        "cR|{p}旁边的公厕门坏了，一直没人维修",
        "c|{p}小广场的健身器材坏了，螺丝都松了",
        "cR|{p}路上的井盖松动，车一压就哐哐响",
        "qB|咨询一下{p}停水是什么原因，要停到几点",
        "s|建议在{p}附近多装几盏路灯",
        "cR|{p}雨水篦子堵了，一下雨就积水",
        "cR|{p}人行道砖松动翘起，道路破损严重",
        "qB|{p}晚上经常停电，是线路老化吗？",
        "sR|{p}附近没有公厕，建议增设一座",
    ],
    "PROP": [
        "c|{p}电梯又坏了，老人上下楼很不方便",
        "c|{p}楼上漏水，卫生间天花板一直在滴水",
        "c|{p}物业服务太差，物业费照收，问题没人解决",
        "c|{p}单元门禁坏了一个月，外人随便进出",
        "c|{p}外墙墙体开裂，裂缝越来越大",
        "q|咨询{e}加装电梯的补贴政策和申请流程",
        "q|{e}的维修基金怎么申请使用？楼顶需要维修",
        "c|{e}业委会选举不公开，业主意见很大",
        "q|{e}什么时候纳入老旧小区改造？",
        "c|{p}物业擅自涨物业费，没有开业主大会",
        "c|{p}屋顶防水层老化，一下雨家里就漏水",
        "c|{p}电梯运行时异响很大，物业说没问题",
        "s|建议{e}公开物业费收支明细",
        "h|{p}门禁卡失灵，物业一直不来换",
        "r|举报{e}物业挪用维修基金",
    ],
    "PARK": [
        "cB|{p}门口乱停放的车太多，车都开不出去",
        "cR|{p}路边乱停放的车太多，两边都停满了",
        "cB|{p}停车难，每天下班回来都找不到车位",
        "cR|{p}人行道上共享单车堆成山，走路都没地方",
        "cB|{p}非机动车乱停，把单元门口都挡住了",
        "s|建议在{p}附近增设电动车充电桩",
        "sR|{p}路口早晚高峰拥堵严重，建议加装红绿灯",
        "cR|{p}斑马线的线都磨没了，过马路不安全",
        "s|{p}车速太快，建议安装减速带",
        "cB|{p}外来车辆长期占用车位",
        "q|咨询{e}的车位租金怎么收",
        "cR|{p}有车长期乱停放在路边，像是僵尸车",
        "r|{p}有人用地锁私占公共车位",
    ],
    "ENV": [
        "c|{p}垃圾桶满了没人清运，臭气熏天",
        "c|{p}有人乱倒建筑垃圾，堆了一个多星期",
        "c|{p}垃圾分类站点脏乱差，没人管理",
        "c|{p}角落是个卫生死角，老鼠蟑螂很多",
        "cB|{p}化粪池满溢，异味很大",
        "h|{p}绿化带里蚊蝇很多，希望打药消杀",
        "hB|{p}的树长得太高挡住窗户，申请树木修剪",
        "r|{p}有人毁绿种菜，把草坪都挖了",
        "cR|{p}污水横流，一到夏天异味特别重",
        "s|建议{e}增加垃圾分类督导员",
        "cB|{p}楼下垃圾堆放好几天了",
        "q|{e}的大件垃圾应该放在哪里？",
        "hR|{p}行道树的树枝快碰到电线了，请安排树木修剪",
    ],
    "ORDER": [
        "c|{p}旁边工地夜间施工，吵得人睡不着",
        "cB|{p}楼上装修噪音太大，周末一大早就开始",
        "c|{p}广场舞音响开得太大，严重扰民",
        "c|{p}底商烧烤油烟直接排到住户窗口",
        "cR|{p}有商贩占道经营，人行道都被占满了",
        "rB|举报{p}有人在楼顶搭违建",
        "c|{p}电线杆上到处贴满了小广告",
        "cB|{p}楼道乱堆物，杂物堆了好几个月",
        "cB|{p}有人养狗不管，半夜狗叫扰民",
        "cR|{p}的KTV噪音扰民到凌晨两点",
        "rB|{p}一楼住户私自扩建院子，属于违建",
        "qB|{p}装修噪音白天几点到几点是允许的？",
        "rR|{p}有店铺私自搭违建雨棚",
    ],
    "CARE": [
        "hB|{p}有位独居老人好几天没出门了，请社区上门看看",
        "q|咨询社区老年食堂助餐的报名方式",
        "s|{e}能不能开个日间照料中心，老人白天没人照顾",
        "q|想给家里老人申请适老化改造，需要什么材料",
        "sB|{p}单元门口台阶太高，建议修无障碍坡道",
        "q|咨询低保申请条件和办理流程",
        "q|社区有没有托育服务，双职工孩子没人带",
        "c|{p}附近没有社区医疗点，老人看病不方便",
        "s|希望社区多组织养老服务活动",
        "s|{e}的老人希望助餐点能送餐上门",
        "hB|{p}的老人腿脚不便，想申请居家养老服务",
        "sR|{p}人行道没有无障碍通道，轮椅过不去",
    ],
}
# Hot-spot templates: many requests at one place within days, so each is assembled from alternatives
# ("[a/b/c]" picks one, "[a/]" may drop a); independent complaints then read differently enough that
# duplicate detection can tell them from real repeats.
HOTSPOT_TEMPLATES = {
    "old_compound": [
        "c|[{p}的电梯/{p}加装的电梯/我们楼的电梯/{p}新装的电梯]"
        "[又坏了/停运好几天了/按钮失灵/门关不上/运行时异响很大/三天两头出故障/坏了没人修/这个月第三次停运了]"
        "[，老人上下楼很不方便/，八十多岁的老人只能爬楼/，腿脚不好的老人下不了楼/，买菜回来只能走楼梯/"
        "，住顶楼的老人出不了门/]"
        "[，物业一直不来修/，维保单位推来推去/，找物业也不管/，希望尽快修好/]",
        "c|[{p}顶楼/{p}楼上卫生间/{p}厨房外墙/{p}楼顶/{p}的老房子/{p}屋顶]"
        "[漏水/渗水漏水/一下雨就漏水/漏水到楼下/墙体开裂还漏水/防水层老化漏水]"
        "[，墙皮都泡掉了/，天花板一直滴水/，家具都泡坏了/，卧室墙上长霉了/]"
        "[，协调了几次都没解决/，物业推给业委会/，希望老旧小区改造尽快落实/，维修基金迟迟批不下来/]",
        "h|{p}电梯[又坏了/停了]，[家里老人要去医院复查/老人出不了门]，[请社区帮忙协调物业/急需维修]",
        "q|[{e}加装电梯的费用怎么分摊？低楼层不同意/{e}的维修基金怎么申请？/{e}什么时候纳入老旧小区改造？]",
    ],
    "night_market": [
        "c|[{p}夜市/{p}的夜市摊贩/{p}夜市的烧烤摊/{p}夜市的大排档]"
        "[噪音太大/吵到凌晨一两点/喇叭叫卖声扰民/油烟熏得窗户都不敢开/占道经营，人都走不过去/"
        "放音乐到半夜/有人喝酒划拳到深夜，噪音扰民/油烟太大扰民]"
        "[，老人孩子睡不好/，第二天还要上班/，家里小孩要考试/，整栋楼都受影响/]"
        "[，希望城管管一管/，能不能规定收摊时间/]",
        "r|[{t}/]{p}夜市[摊贩半夜还在放音乐/烧烤摊占道经营/摊位越摆越多]，[严重扰民/噪音扰民]",
    ],
    "night_market_env": [
        "c|[{p}夜市/{p}的夜市摊贩/{p}夜市的烧烤摊]"
        "[收摊后满地垃圾/把垃圾直接倒在绿化带里/泔水倒进雨水口，异味很大/竹签餐盒扔得到处都是垃圾/"
        "垃圾桶不够，垃圾堆到路边/污水横流，臭味很大]"
        "[，第二天早上才有人扫/，苍蝇蚊子多/，路过都要捂鼻子/]"
        "[，希望环卫加派人手/，请督促摊贩清理/]",
    ],
    "school_gate": [
        "c|[{p}/每天早上{p}/放学时{p}/上下学时间{p}/早上七点半{p}/下午四点多{p}]"
        "[接送孩子的车乱停放/家长的车乱停放，停满了路两边/双排违停/接娃车辆占道停车/"
        "拥堵严重/车辆乱停，非机动车也挤在一起/私家车乱停放，校车都进不去/电动车和汽车乱停放挤成一团]"
        "[，堵得水泄不通/，公交车都过不去/，过个路要十分钟/]"
        "[，孩子过斑马线很不方便/，救护车都进不来/，上班的车也被堵住/，小区车库出口被堵死/]"
        "[，交警能不能来管一管/，希望尽快整治/，建议安排协管员/]",
        "s|[建议{p}设置临时停车区/建议学校错峰放学/建议{p}增设停车泊位/建议{p}划出即停即走车位]，"
        "[接送时段/早晚高峰/每天放学]"
        "[太拥堵了/乱停放严重/车都停到斑马线上了]",
    ],
    "bike_shed": [
        "c|[{p}/{p}里/{p}旁边]"
        "[有人飞线充电/私拉电线飞线充电/好多电瓶车飞线充电/插线板堆在一起飞线充电/有人从楼上拉线下来飞线充电]"
        "[，晚上直冒火花/，好几次跳闸冒烟了/，担心起火/，有火灾隐患/]"
        "[，请物业管一管/，请社区尽快处理/]",
        "r|举报[{p}/{p}里]有人[飞线充电/私拉电线给电瓶充电]",
        "s|[{p}/{p}里]飞线充电太普遍，建议装集中充电设施",
    ],
    "elderly": [
        "hB|[{p}住着一位独居老人/{p}的老人腿脚不便/{p}有位失能老人/{p}的空巢老人]"
        "[，子女不在身边/，好几天没出门了/，做饭很困难/，摔倒过两次/，一个人住在六楼/]"
        "，[希望社区养老服务上门探访/想申请居家养老服务/希望助餐点送餐上门/想做适老化改造，加装扶手/"
        "能不能给独居老人装紧急呼叫设备/希望安排日间照料/想了解高龄补贴怎么申请]",
        "s|{e}[老人多/高龄老人多]，[建议在小区里设助餐点/希望社区定期上门探访独居老人/日间照料中心名额太少]",
        "cR|[{p}/社区老年食堂]"
        "[助餐排队的老人太多/助餐的饭菜太咸，老人吃不惯/助餐窗口只开了一个/助餐菜品太少/助餐价格又涨了]"
        "[，建议送餐上门/，建议延长开放时间/，希望增加助餐名额/]",
        "qR|[{p}/社区老年食堂]助餐[能不能给行动不便的老人送餐上门？/怎么报名？/有没有高龄补贴？]",
    ],
}

# Grid workers' patrol notes: "数字城管 大类/小类|text", terse observations with the same keywords. The
# 小类 is what the taxonomy maps when it knows it (乱停放, 路灯), else the 大类.
PATROL_TEMPLATES = {
    "SAFE": ["突发事件/消防隐患|{p}楼道内有居民飞线充电", "突发事件/消防隐患|{p}消防通道被杂物占用",
             "突发事件/消防隐患|{p}发现电动车进楼充电", "公用设施/井盖|{p}井盖缺失，已设置临时警示",
             "突发事件/漏电|{p}配电箱柜门损坏，存在漏电隐患", "突发事件/房屋安全|{p}外墙空鼓开裂，疑似危房"],
    "FAC": ["公用设施/路灯|{p}路灯不亮", "道路交通/道路破损|{p}道路破损，坑洼明显",
            "公用设施/雨水篦子|{p}雨后积水严重", "公用设施/井盖|{p}井盖松动异响",
            "公用设施/公共厕所|{p}公厕设施损坏", "公用设施/健身设施|{p}健身器材损坏",
            "公用设施/污水井盖|{p}下水道堵塞外溢"],
    "PROP": ["房屋土地/房屋|{p}单元门禁损坏", "房屋土地/房屋|{p}外墙墙体开裂",
             "房屋土地/房屋|{p}电梯停运，住户反映强烈", "房屋土地/房屋|{p}楼顶漏水，住户反映强烈"],
    "PARK": ["街面秩序/乱停放|{p}机动车乱停放", "街面秩序/乱停放|{p}共享单车乱停放占用人行道",
             "街面秩序/乱停放|{p}非机动车乱停放", "街面秩序/乱停放|{p}车辆乱停放造成拥堵",
             "街面秩序/乱停放|{p}地锁私占车位"],
    "ENV": ["市容环境/暴露垃圾|{p}垃圾桶满溢未清运", "市容环境/积存垃圾渣土|{p}建筑垃圾乱堆",
            "市容环境/道路不洁|{p}存在卫生死角", "园林绿化/绿地脏乱|{p}绿化带被毁绿种菜",
            "市容环境/污水冒溢|{p}污水外溢，异味明显", "园林绿化/行道树|{p}行道树需树木修剪"],
    "ORDER": ["街面秩序/占道经营|{p}占道经营", "宣传广告/非法小广告|{p}张贴小广告",
              "街面秩序/乱堆物料|{p}楼道乱堆物", "施工管理/施工扰民|{p}夜间施工",
              "街面秩序/餐饮油烟|{p}烧烤油烟扰民", "施工管理/违章建筑|{p}疑似违建"],
    "CARE": ["扩展事件/民生服务|走访{p}独居老人，需要助餐服务", "扩展事件/民生服务|{p}有老人申请适老化改造",
             "扩展事件/民生服务|{p}残疾老人出行需要无障碍设施",
             "扩展事件/民生服务|走访{p}低保户，需协助办理复核"],
    "old_compound": ["房屋土地/房屋|{p}[加装电梯停运/电梯故障，老人无法下楼/电梯停用待修]"
                     "[，已联系物业/，维保未到场/]",
                     "房屋土地/房屋|{p}[楼顶漏水/多户漏水/外墙渗水]"
                     "[，墙体开裂/，需启用维修基金/，住户反映强烈/]"],
    "night_market": ["街面秩序/占道经营|{p}夜市[摊位/摊贩/烧烤摊]占道经营[，约[十/二十]个摊位/，已劝导/]",
                     "街面秩序/餐饮油烟|{p}夜市[烧烤/大排档]油烟扰民[，已劝导/]",
                     "街面秩序/占道经营|{p}夜市[噪音/音响/叫卖声]扰民[，已劝导/，已告知城管/]"],
    "night_market_env": ["市容环境/暴露垃圾|{p}夜市收摊后垃圾满地",
                         "市容环境/污水冒溢|{p}夜市泔水倒入雨水口，异味明显",
                         "市容环境/暴露垃圾|{p}夜市垃圾堆放"],
    "school_gate": ["街面秩序/乱停放|{p}[接送/家长/社会/私家]车辆乱停放[，占用斑马线/，造成拥堵/，已劝离/]"
                    "[，约[十/二十/三十]辆/]"],
    "bike_shed": ["突发事件/消防隐患|{p}[多处/有居民/有住户/]"
                  "[飞线充电/私拉电线飞线充电/飞线充电，插线板堆放/从楼上拉线飞线充电]"
                  "[，存在火灾隐患/，已断开电源/，已通知物业/]"],
    "elderly": ["扩展事件/民生服务|走访{p}独居老人，需要助餐服务", "扩展事件/民生服务|{p}老人申请适老化改造",
                "扩展事件/民生服务|{p}失能老人需要养老服务", "扩展事件/民生服务|{p}日间照料中心名额不足"],
}
PRAISE_SUBJECT = {
    "SAFE": ["飞线充电", "消防通道"], "FAC": ["路灯", "积水", "停水"], "PROP": ["电梯", "漏水"],
    "PARK": ["乱停放", "车位"], "ENV": ["垃圾清运", "卫生死角"], "ORDER": ["噪音扰民", "占道经营"],
    "CARE": ["助餐", "独居老人"],
}
PRAISE = [
    "感谢社区和网格员，{p}的{s}问题很快就解决了",
    "{p}反映的{s}问题处理得很及时，点个赞",
    "表扬网格员，{s}的事情跑前跑后，办得很好",
]
PRAISE_SHARE = 0.05  # of background requests from residents
TIME_WORDS = ["昨晚", "今天早上", "最近", "这几天", "每天晚上", "前天", "周末", "今天下午"]
KIND_TYPE = {"c": "投诉", "h": "求助", "q": "咨询", "s": "建议", "r": "举报", "p": "表扬"}
KIND_WEIGHTS = {"c": 0.6, "h": 0.1, "q": 0.13, "s": 0.11, "r": 0.06}
REPEAT_PREFIX = ["再次反映：", "又来反映，", "第二次反映了，", "还是没人管！", "", "之前反映过，"]
REPEAT_SUFFIX = ["", "，到现在还没解决！", "，上次反映了也没人来", "，拖了好几天了", "，问题依旧"]

# calendars: approximations for 2025/26 (public holidays, Chengdu school breaks, Spring Festival)
HOLIDAYS = [("2026-01-01", "2026-01-03"), ("2026-04-04", "2026-04-06"), ("2026-05-01", "2026-05-05"),
            ("2026-06-19", "2026-06-21"), ("2026-09-25", "2026-09-27"), ("2026-10-01", "2026-10-08")]
SCHOOL_BREAKS = [("2026-01-24", "2026-02-28"), ("2026-07-04", "2026-08-31")]
SPRING_FESTIVAL = ("2026-02-14", "2026-02-22")


def _hours(**weights: float) -> np.ndarray:
    """Hour-of-day weights from keywords h0…h23 (unnamed hours weigh 0)."""
    w = np.zeros(24)
    for k, v in weights.items():
        w[int(k[1:])] = v
    return w


HOURS_OFFICE = np.array([.2, .1, .05, .05, .05, .1, .3, .8, 2.5, 4, 4.5, 4, 2, 2.5, 4, 4.5, 4, 3, 1.5, 1.8,
                         2, 1.8, 1, .5])
HOURS_NIGHT = _hours(h0=2, h1=.8, h17=.2, h18=.5, h19=1.5, h20=2.5, h21=3.5, h22=4, h23=3.5)
HOURS_SCHOOL = _hours(h7=3, h8=4, h9=1.2, h10=.5, h11=.3, h15=1, h16=4, h17=3, h18=1, h19=.4)
HOURS_SHED = HOURS_OFFICE * 0.3 + _hours(h19=2, h20=3.5, h21=4, h22=3.5, h23=2)
HOURS_PATROL = _hours(h8=2, h9=4, h10=4, h11=3, h13=1, h14=3, h15=4, h16=3, h17=1)
NIGHT_MONTHS = {12: .4, 1: .35, 2: .45, 3: .6, 4: .8, 5: 1.1, 6: 1.6, 7: 2.0, 8: 2.0, 9: 1.3, 10: .9, 11: .6}


@dataclass
class Sample:
    """Everything the generator builds, as frames; the files are written from these."""

    community: Polygon
    grids: pd.DataFrame  # grid_code, name, community, subdistrict, grid_worker, households, geometry
    gazetteer: pd.DataFrame
    requests: pd.DataFrame  # ground truth per request: channel, source id, scenario, category, point, time
    xlsx: pd.DataFrame
    wechat: pd.DataFrame
    patrol: pd.DataFrame
    bad_rows: pd.DataFrame


# ---------------------------------------------------------------- geometry helpers


def _metres(dx_m, dy_m) -> tuple[np.ndarray, np.ndarray]:
    """Metre offsets → degree offsets (lng, lat)."""
    return np.asarray(dx_m) / M_LNG, np.asarray(dy_m) / M_LAT


def _dist_m(lng0, lat0, lng1, lat1) -> np.ndarray:
    return np.hypot((np.asarray(lng1) - lng0) * M_LNG, (np.asarray(lat1) - lat0) * M_LAT)


def _inside(lng, lat, poly: Polygon) -> np.ndarray:
    return shapely.contains_xy(poly, np.asarray(lng, dtype=float), np.asarray(lat, dtype=float))


def _jitter_inside(rng, lng, lat, sd_m, poly: Polygon = BOUNDARY) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian jitter in metres; points the jitter pushed outside ``poly`` keep their unjittered spot."""
    lng, lat = np.asarray(lng, dtype=float), np.asarray(lat, dtype=float)
    dx, dy = _metres(rng.normal(0, 1, len(lng)) * sd_m, rng.normal(0, 1, len(lng)) * sd_m)
    ok = _inside(lng + dx, lat + dy, poly)
    return np.where(ok, lng + dx, lng), np.where(ok, lat + dy, lat)


# ---------------------------------------------------------------- gazetteer and grids


def _place_estates(rng) -> list[tuple[float, float]]:
    """Fixed centres for the planted 小区; the others at random, spread out and away from roads."""
    inner = BOUNDARY.buffer(-0.0009)
    near_road = shapely.union_all([LineString(c) for c in ROADS.values()]).buffer(0.0004)
    keep_clear = [SCHOOL_GATE, BIKE_SHED, *NIGHT_MARKET]
    centres = [e[2] for e in ESTATES if e[2] is not None]
    x0, y0, x1, y1 = inner.bounds
    while len(centres) < len(ESTATES):
        lng, lat = x0 + rng.random() * (x1 - x0), y0 + rng.random() * (y1 - y0)
        if not inner.contains(Point(lng, lat)) or near_road.contains(Point(lng, lat)):
            continue
        taken = np.array(centres + keep_clear)
        if _dist_m(lng, lat, taken[:, 0], taken[:, 1]).min() >= ESTATE_SPACING_M:
            centres.append((round(lng, 6), round(lat, 6)))
    return centres


def _buildings(rng, centre: tuple[float, float], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Building points on a rotated 2-column lattice (35 m × 30 m) around the 小区 centre."""
    cols = np.arange(n) % 2 - 0.5
    rows = np.arange(n) // 2 - (np.ceil(n / 2) - 1) / 2
    ang = rng.uniform(-0.5, 0.5)
    x, y = cols * 35.0, rows * 30.0
    dlng, dlat = _metres(x * np.cos(ang) - y * np.sin(ang), x * np.sin(ang) + y * np.cos(ang))
    return centre[0] + dlng, centre[1] + dlat


def _door_on_road(road: str, lng: float, lat: float, used: dict[str, set]) -> tuple[int, float, float]:
    """House number and point of a door on ``road`` facing (lng, lat): odd numbers left, even right."""
    scale = np.array([M_LNG, M_LAT])
    a, b = np.array(ROADS[road])
    line = LineString(ROADS[road])
    on = np.array(line.interpolate(line.project(Point(lng, lat))).coords[0])
    along, to_p = (b - a) * scale, (np.array([lng, lat]) - on) * scale
    left = along[0] * to_p[1] - along[1] * to_p[0] > 0
    number = 2 * int(np.hypot(*((on - a) * scale)) / 16) + (1 if left else 2)
    while number in used.setdefault(road, set()):
        number += 2
    used[road].add(number)
    dlng, dlat = _metres(*(to_p / (np.hypot(*to_p) or 1.0) * 12))  # 12 m off the centre line
    return number, round(float(on[0] + dlng), 6), round(float(on[1] + dlat), 6)


def _gazetteer(rng) -> pd.DataFrame:
    """~150 entries: 小区 with their buildings, door plates, both communities and the street."""
    rows: list[dict] = []
    base = dict(province=PROVINCE, city=CITY, district=DISTRICT, subdistrict=STREET, community=COMMUNITY,
                road=None, number=None, estate=None, building=None, households=None)

    def add(**kw) -> None:
        rows.append({**base, **kw})

    centres = _place_estates(rng)
    for (name, aliases, _, n, (lo, hi)), centre in zip(ESTATES, centres, strict=True):
        blng, blat = _buildings(rng, centre, n)
        hh = (rng.integers(lo // 6, hi // 6 + 1, n) * 6).tolist()  # flats come in multiples of 6
        add(name=name, aliases=aliases, level="estate", estate=name, lng=centre[0], lat=centre[1],
            households=sum(hh))
        for i in range(n):
            add(name=f"{name}{i + 1}栋", aliases="", level="building", estate=name, building=str(i + 1),
                lng=round(float(blng[i]), 6), lat=round(float(blat[i]), 6), households=hh[i])
    # the same 小区 name in the neighbouring community: "金色家园1栋" is ambiguous, "金色家园3栋" is not
    add(name="金色家园", aliases="", level="estate", estate="金色家园", community=NEIGHBOUR,
        lng=NEIGHBOUR_ESTATE[0], lat=NEIGHBOUR_ESTATE[1], households=312)
    for i, (dx, hh) in enumerate([(-18, 168), (18, 144)]):
        add(name=f"金色家园{i + 1}栋", aliases="", level="building", estate="金色家园", building=str(i + 1),
            community=NEIGHBOUR, lng=round(NEIGHBOUR_ESTATE[0] + dx / M_LNG, 6), lat=NEIGHBOUR_ESTATE[1],
            households=hh)

    used: dict[str, set] = {}
    lines = {r: LineString(c) for r, c in ROADS.items()}
    for (name, *_), centre in list(zip(ESTATES, centres, strict=True))[:N_GATES]:
        road = min(lines, key=lambda r: lines[r].distance(Point(centre)))
        num, lng, lat = _door_on_road(road, *centre, used)
        add(name=f"{road}{num}号", aliases="", level="door", road=road, number=str(num), estate=name,
            lng=lng, lat=lat)
    landmarks = [  # door plates residents know by another name
        ("桂溪路", SCHOOL_GATE[0] + 0.0005, SCHOOL_GATE[1], "锦华小学|锦华小学校门"),
        ("芳华街", 104.0595, 30.6322, ""),
        ("芳华街", 104.0630, 30.6322, "芳华街夜市|夜市"),
        ("芳华街", 104.0665, 30.6318, ""),
        ("紫荆巷", 104.0625, 30.6468, "锦华社区老年食堂|老年食堂|社区食堂"),
        ("玉华路", 104.0610, 30.6405, "锦华社区党群服务中心|社区服务中心"),
        ("锦华路", 104.0555, 30.6350, ""),
    ]
    for road, lng, lat, aliases in landmarks:
        num, dlng, dlat = _door_on_road(road, lng, lat, used)
        add(name=f"{road}{num}号", aliases=aliases, level="door", road=road, number=str(num),
            lng=dlng, lat=dlat)
    ours = [r["households"] for r in rows if r["level"] == "building" and r["community"] == COMMUNITY]
    c = BOUNDARY.centroid
    add(name=COMMUNITY, aliases="锦华社区居委会|锦华", level="community", lng=round(c.x, 6),
        lat=round(c.y, 6), households=sum(ours))
    add(name=NEIGHBOUR, aliases="锦东社区居委会|锦东", level="community", community=NEIGHBOUR,
        lng=NEIGHBOUR_CENTRE[0], lat=NEIGHBOUR_CENTRE[1])
    add(name=STREET, aliases="芳华街道办事处|芳华街道办", level="street", community=None,
        lng=STREET_CENTRE[0], lat=STREET_CENTRE[1])
    cols = ["name", "aliases", "level", "province", "city", "district", "subdistrict", "community", "road",
            "number", "estate", "building", "lng", "lat", "households"]
    gaz = pd.DataFrame(rows)[cols]
    gaz["households"] = gaz["households"].astype("Int64")
    return gaz


def _grids(rng, gaz: pd.DataFrame) -> pd.DataFrame:
    """8 irregular grids: Voronoi cells of jittered seeds clipped to the community boundary."""
    x0, y0, x1, y1 = BOUNDARY.bounds
    gx, gy = np.meshgrid((np.arange(4) + 0.5) / 4, [0.75, 0.25])  # north row first: 第1网格 in the NW
    seeds = shapely.points(x0 + (gx.ravel() + rng.uniform(-0.07, 0.07, 8)) * (x1 - x0),
                           y0 + (gy.ravel() + rng.uniform(-0.1, 0.1, 8)) * (y1 - y0))
    cells = shapely.get_parts(shapely.voronoi_polygons(MultiPoint(seeds), extend_to=BOUNDARY))
    # match cells to seeds ourselves (voronoi_polygons(ordered=True) needs GEOS ≥ 3.12)
    polys = np.array([shapely.intersection(cells[shapely.contains(cells, s)][0], BOUNDARY) for s in seeds])
    polys = shapely.orient_polygons(shapely.set_precision(polys, 1e-7), exterior_cw=False)
    b = gaz[(gaz["level"] == "building") & (gaz["community"] == COMMUNITY)]
    households = [int(b.loc[_inside(b["lng"], b["lat"], p), "households"].sum()) for p in polys]
    # a mix of widths as found in the field: CJ/T 213 (2-digit grid) and Beijing-style (3-digit grid)
    codes = [f"{GRID_PREFIX}{i:02d}" if i <= 5 else f"{GRID_PREFIX}{i:03d}" for i in range(1, 9)]
    return pd.DataFrame({
        "grid_code": codes, "name": [f"第{i}网格" for i in range(1, 9)], "community": COMMUNITY,
        "subdistrict": STREET, "grid_worker": GRID_WORKERS, "households": households, "geometry": list(polys),
    })


# ---------------------------------------------------------------- when and where requests happen


def _in_ranges(days: pd.DatetimeIndex, ranges) -> np.ndarray:
    m = np.zeros(len(days), bool)
    for a, b in ranges:
        m |= (days >= a) & (days <= b)
    return m


def _day_weights(pattern: str, category: str | None = None) -> np.ndarray:
    """Probability of each day of the year for a pattern (weekdays, seasons, school calendar)."""
    days = pd.date_range(str(START.astype("datetime64[D]")), periods=N_DAYS, freq="D")
    dow, month = days.day_of_week.to_numpy(), days.month.to_numpy()
    w = np.where(dow < 5, 1.0, np.where(dow == 5, 0.7, 0.6))
    w[_in_ranges(days, [SPRING_FESTIVAL])] *= 0.5
    if pattern == "background":
        season = {"FAC": {6: 1.4, 7: 1.7, 8: 1.6}, "ENV": {6: 1.3, 7: 1.4, 8: 1.4},
                  "CARE": {12: 1.3, 1: 1.3, 2: 1.2}}.get(category, {})
        w *= np.array([season.get(m, 1.0) for m in month])
    elif pattern == "old_compound":  # 3.2 × more complaints at the end of the year than at its start
        w *= np.linspace(1.0, 3.2, N_DAYS)
    elif pattern == "night_market":  # busiest on Friday and Saturday nights and in summer
        w = np.where(dow >= 4, 1.4, 1.0) * np.array([NIGHT_MONTHS[m] for m in month])
    elif pattern == "school_gate":
        w = ((dow < 5) & ~_in_ranges(days, SCHOOL_BREAKS + HOLIDAYS)).astype(float)
    elif pattern == "bike_shed":  # every day, a little more in winter
        w = np.where(np.isin(month, [12, 1, 2]), 1.3, 1.0)
    elif pattern == "elderly":
        w *= np.where(np.isin(month, [12, 1, 2]), 1.3, 1.0)
    return w / w.sum()


def _times(rng, n: int, day_w: np.ndarray, hour_w: np.ndarray) -> np.ndarray:
    day = rng.choice(N_DAYS, n, p=day_w)
    hour = rng.choice(24, n, p=hour_w / hour_w.sum())
    return START + (day * 86400 + hour * 3600 + rng.integers(0, 3600, n)).astype("timedelta64[s]")


def _frame(scenario: str, category, place, lng, lat, t, where=None) -> pd.DataFrame:
    n = len(place)
    return pd.DataFrame({
        "scenario": scenario, "category": [category] * n if isinstance(category, str) else list(category),
        "place": np.asarray(place, dtype=np.int64), "where": where, "lng": lng, "lat": lat, "time": t})


def _events(rng, gaz: pd.DataFrame) -> pd.DataFrame:
    """Original requests (no repeats yet): scenario, category, gazetteer place, true WGS84 point, time."""
    ours = (gaz["community"] == COMMUNITY).to_numpy()

    def idx(level: str, **eq) -> np.ndarray:
        m = (gaz["level"] == level).to_numpy() & ours
        for k, v in eq.items():
            m &= (gaz[k] == v).to_numpy()
        return gaz.index[m].to_numpy()

    def with_alias(ids: np.ndarray, word: str) -> np.ndarray:
        return ids[gaz.loc[ids, "aliases"].str.contains(word).to_numpy()]

    def at(place: np.ndarray, sd_m: float):
        return _jitter_inside(rng, gaz.loc[place, "lng"].to_numpy(), gaz.loc[place, "lat"].to_numpy(), sd_m)

    frames = []
    # OLD COMPOUND: 锦城花园's buildings, PROP (lifts, leaks), rising over the year
    n = PLANNED["old_compound"]
    place = rng.choice(idx("building", estate="锦城花园"), n)
    frames.append(_frame("old_compound", "PROP", place, *at(place, 8),
                         _times(rng, n, _day_weights("old_compound"), HOURS_OFFICE)))

    # NIGHT MARKET: along the 芳华街 segment, ORDER 62 % / ENV 38 %, evenings; place = nearest door plate
    n = PLANNED["night_market"]
    (a_lng, a_lat), (b_lng, b_lat) = NIGHT_MARKET
    f = rng.random(n)
    lng = a_lng + f * (b_lng - a_lng) + rng.normal(0, 12, n) / M_LNG
    lat = a_lat + f * (b_lat - a_lat) + rng.normal(0, 12, n) / M_LAT
    doors = idx("door", road="芳华街")
    doors = doors[np.abs(gaz.loc[doors, "lng"].to_numpy() - (a_lng + b_lng) / 2) < (b_lng - a_lng) / 2 + 8e-4]
    d = _dist_m(lng[:, None], lat[:, None], *(gaz.loc[doors, c].to_numpy() for c in ("lng", "lat")))
    cats = np.where(rng.random(n) < 0.62, "ORDER", "ENV")
    frames.append(_frame("night_market", cats, doors[d.argmin(axis=1)], lng, lat,
                         _times(rng, n, _day_weights("night_market"), HOURS_NIGHT)))

    # SCHOOL GATE: PARK at drop-off and pick-up on school days; cars queue along 桂溪路
    n = PLANNED["school_gate"]
    lng = SCHOOL_GATE[0] + rng.normal(0, 10, n) / M_LNG
    lat = SCHOOL_GATE[1] + rng.normal(0, 35, n) / M_LAT
    frames.append(_frame("school_gate", "PARK", np.repeat(with_alias(idx("door"), "锦华小学"), n), lng, lat,
                         _times(rng, n, _day_weights("school_gate"), HOURS_SCHOOL)))

    # SAFE: 飞线充电 in 桂苑小区's bike shed, evenings
    n = PLANNED["bike_shed"]
    lng, lat = _jitter_inside(rng, np.full(n, BIKE_SHED[0]), np.full(n, BIKE_SHED[1]), 6)
    frames.append(_frame("bike_shed", "SAFE", np.repeat(idx("estate", estate="桂苑小区"), n), lng, lat,
                         _times(rng, n, _day_weights("bike_shed"), HOURS_SHED)))

    # CARE: 颐年苑's buildings and 小区 (70 %) and the elderly canteen next door (30 %)
    n = PLANNED["elderly"]
    homes = np.concatenate([idx("building", estate="颐年苑"), idx("estate", estate="颐年苑")])
    place = np.where(rng.random(n) < 0.7, rng.choice(homes, n), with_alias(idx("door"), "老年食堂")[0])
    frames.append(_frame("elderly", "CARE", place, *at(place, 10),
                         _times(rng, n, _day_weights("elderly"), HOURS_OFFICE)))

    # 锦东社区's 金色家园: outside the service area, so ingest should reject these
    n = PLANNED["neighbour"]
    nb = gaz.index[((gaz["community"] == NEIGHBOUR) & (gaz["level"] == "building")).to_numpy()].to_numpy()
    place = rng.choice(nb, n)
    frames.append(_frame("neighbour", "ENV", place, *(gaz.loc[place, c].to_numpy() for c in ("lng", "lat")),
                         _times(rng, n, _day_weights("background"), HOURS_OFFICE)))

    frames.append(_background(rng, gaz, idx))
    ev = pd.concat(frames, ignore_index=True)
    ev["where"] = ev["where"].fillna(pd.Series(gaz.loc[ev["place"], "level"].to_numpy(), index=ev.index))
    planted = (ev["scenario"] != "neighbour").to_numpy()
    if not _inside(ev["lng"], ev["lat"], BOUNDARY)[planted].all():
        raise RuntimeError("a generated request fell outside the community boundary")
    return ev


def _background(rng, gaz: pd.DataFrame, idx) -> pd.DataFrame:
    """Scattered demand in every category: buildings (by households), 小区, door plates, along roads."""
    n = round(TOTAL_REQUESTS * (1 - REPEAT_SHARE)) - sum(PLANNED.values())
    cats = rng.choice(CATEGORIES, n, p=list(BACKGROUND_SHARE.values()))
    where = np.empty(n, dtype=np.int64)
    for c in CATEGORIES:
        m = cats == c
        where[m] = rng.choice(4, m.sum(), p=BACKGROUND_WHERE[c])
    bld, est, doors = idx("building"), idx("estate"), idx("door")
    hh = gaz.loc[bld, "households"].to_numpy(float)
    place = np.empty(n, dtype=np.int64)
    place[where == 0] = rng.choice(bld, (where == 0).sum(), p=hh / hh.sum())
    place[where == 1] = rng.choice(est, (where == 1).sum())
    place[where >= 2] = rng.choice(doors, (where >= 2).sum())
    sd = np.select([where == 0, where == 1], [8.0, 30.0], 12.0)
    lng, lat = _jitter_inside(rng, gaz.loc[place, "lng"].to_numpy(), gaz.loc[place, "lat"].to_numpy(), sd)
    # along a road: up to 150 m either way from a door plate, which residents then name ("…号附近")
    k = np.flatnonzero(where == 3)
    lines = shapely.linestrings([ROADS[r] for r in gaz.loc[place[k], "road"]])
    at = shapely.line_locate_point(lines, shapely.points(gaz.loc[place[k], ["lng", "lat"]].to_numpy()))
    along = at + rng.uniform(-150, 150, len(k)) / M_LNG  # metres → degrees (E–W and N–S alike: ±13 %)
    along = np.clip(along, 0.04 * shapely.length(lines), 0.96 * shapely.length(lines))
    pts = shapely.line_interpolate_point(lines, along)
    lng[k], lat[k] = _jitter_inside(rng, shapely.get_x(pts), shapely.get_y(pts), 6)
    t = np.empty(n, dtype="datetime64[s]")
    for c in CATEGORIES:
        m = cats == c
        t[m] = _times(rng, m.sum(), _day_weights("background", c), HOURS_OFFICE)
    return _frame("background", cats, place, lng, lat, t, where=WHERE[where])


# ---------------------------------------------------------------- channels, texts, repeats, reporters


def _assign_sources(rng, ev: pd.DataFrame) -> np.ndarray:
    """Exact quotas over the originals: patrol 15 % (by PATROL_WEIGHT), WeChat 25 %, 12345 the rest."""
    src = np.full(len(ev), "12345", dtype=object)
    neighbour = (ev["scenario"] == "neighbour").to_numpy()
    orig = np.flatnonzero(~neighbour)
    pw = ev["category"].iloc[orig].map(PATROL_WEIGHT).to_numpy()
    n_patrol, n_wechat = round(len(ev) * SHARE_PATROL), round(len(ev) * SHARE_WECHAT) - int(neighbour.sum())
    patrol = rng.choice(orig, n_patrol, replace=False, p=pw / pw.sum())
    src[patrol] = "patrol"
    src[rng.choice(np.setdiff1d(orig, patrol), n_wechat, replace=False)] = "wechat"
    src[neighbour] = "wechat"  # a resident of 锦东社区 posting in the wrong group
    return src


def _scope(template: str) -> str:
    """B: only at a building or 小区, R: only at a door plate or road, '': anywhere."""
    head = template.split("|", 1)[0]
    return head[1:] or ("B" if "{e}" in template else "")


def _choose_templates(rng, pools: list[list[str]], where: np.ndarray) -> list[str]:
    """A template per request: a kind drawn by KIND_WEIGHTS among those fitting the place, then a template."""
    out = []
    for pool, w in zip(pools, where, strict=True):
        scope = "B" if w in ("building", "estate") else "R"
        fit = [t for t in pool if _scope(t) in ("", scope)]
        kinds = sorted({t[0] for t in fit}, key=list(KIND_WEIGHTS).index)
        p = np.array([KIND_WEIGHTS[k] for k in kinds])
        kind = kinds[rng.choice(len(kinds), p=p / p.sum())]
        fit = [t for t in fit if t[0] == kind]
        out.append(fit[rng.integers(len(fit))])
    return out


def _place_phrase(rng, g: dict, scenario: str, where: str, source: str) -> str:
    """How a text names the place. Residents may be vague ('~'); operators and grid workers are not."""
    alias = g["aliases"].split("|")[0] if isinstance(g["aliases"], str) and g["aliases"] else ""
    e, b, road, num = g["estate"], g["building"], g["road"], g["number"]
    door = alias or f"{road}{num}号"
    if source == "patrol":
        options = {"night_market": [f"芳华街{num}号附近"], "school_gate": ["锦华小学门口"],
                   "bike_shed": ["桂苑小区车棚"]}.get(scenario) or {
            "building": [f"{e}{b}栋"], "estate": [e], "door": [door], "road": [f"{road}{num}号附近"]}[where]
    elif scenario == "night_market":
        options = ["芳华街", "芳华街", "~楼下", f"芳华街{num}号门口的"]
    elif scenario == "school_gate":
        options = ["锦华小学门口", "~学校门口", "桂溪路小学门口"]
    elif scenario == "bike_shed":
        options = ["桂苑小区车棚", "桂苑小区2栋旁边的车棚", "桂苑车棚", "~我们小区车棚"]
    elif where == "building":
        unit = f"{rng.integers(1, 4)}单元"
        options = [f"{e}{b}栋", f"{e}{b}栋{unit}", e, f"~{b}栋{unit}"]
    elif where == "estate":
        options = [e, f"{e}里面", "~我们小区"]
    elif where == "door":
        options = [f"{road}{num}号", f"{road}{num}号门口", road] + [alias, alias] * bool(alias)
    else:  # road
        options = [road, f"{road}{num}号附近", f"{road}这段路"]
    if source != "wechat":
        options = [o for o in options if not o.startswith("~")]
    return options[rng.integers(len(options))].lstrip("~")


_ALTERNATIVES = re.compile(r"\[([^\[\]]*)\]")


def _expand(rng, template: str) -> str:
    """Pick one alternative of every "[a/b/c]" in a template ("[a/]" may leave it out; nesting is fine)."""
    while "[" in template:  # innermost brackets first
        template = _ALTERNATIVES.sub(lambda m: _pick(rng, m.group(1).split("/"), 1)[0], template)
    return template


def _add_texts(rng, gaz: pd.DataFrame, ev: pd.DataFrame) -> pd.DataFrame:
    """Template, request kind/type and the text core of every original request, in its channel's voice."""
    ev = ev.copy()
    key = np.where((ev["scenario"] == "night_market") & (ev["category"] == "ENV"), "night_market_env",
                   ev["scenario"])
    key = np.where(np.isin(key, list(HOTSPOT_TEMPLATES)), key, ev["category"])
    patrol = (ev["source"] == "patrol").to_numpy()
    tpl = np.empty(len(ev), dtype=object)
    tpl[~patrol] = _choose_templates(rng, [HOTSPOT_TEMPLATES.get(k) or TEMPLATES[k] for k in key[~patrol]],
                                     ev["where"].to_numpy()[~patrol])
    label_text = [_pick(rng, PATROL_TEMPLATES[k], 1)[0].split("|") for k in key[patrol]]
    tpl[patrol] = ["c|" + text for _, text in label_text]
    ev["patrol_label"] = ""
    ev.loc[patrol, "patrol_label"] = [label for label, _ in label_text]
    # praise replaces some background templates (a 表扬 is still about its category's subject)
    praise = ~patrol & (ev["scenario"] == "background").to_numpy() & (rng.random(len(ev)) < PRAISE_SHARE)
    tpl[praise] = ["p|" + t for t in _pick(rng, PRAISE, int(praise.sum()))]
    ev["template"] = tpl
    ev["kind"] = ev["template"].str[0]
    ev["request_type"] = ev["kind"].map(KIND_TYPE)
    ev.loc[(ev["kind"] == "c") & (rng.random(len(ev)) < 0.2), "request_type"] = "求助"
    ev.loc[patrol, "request_type"] = ""  # patrol reports have no 12345 request type
    cores, places = [], gaz.to_dict("records")  # plain dicts: row lookups in pandas are slow
    for row in ev.itertuples(index=False):
        g = places[row.place]
        subject = PRAISE_SUBJECT[row.category]
        cores.append(_expand(rng, row.template.split("|", 1)[1]).format(
            p=_place_phrase(rng, g, row.scenario, row.where, row.source),
            e="颐年苑" if row.scenario == "elderly" else g["estate"],
            t=TIME_WORDS[rng.integers(len(TIME_WORDS))], s=subject[rng.integers(len(subject))]))
    ev["core"] = cores
    return ev


def _add_repeats(rng, ev: pd.DataFrame, n: int) -> pd.DataFrame:
    """Repeated complaints: same place and issue, hours to 5 days later, similar text; hot spots repeat more.

    Grid workers re-report through patrol; residents keep their channel 3 times in 4, else switch.
    """
    ev = ev.assign(is_repeat=False, repeat_of=-1)
    eligible = ev["kind"].isin(["c", "h", "r"]) & (ev["time"] < END - np.timedelta64(5 * 86400, "s"))
    eligible &= ev["scenario"] != "neighbour"
    w = np.where(ev["scenario"] == "background", 1.0, 2.0) * eligible.to_numpy()
    orig = rng.choice(len(ev), n, replace=False, p=w / w.sum())
    rep = ev.iloc[orig].copy()
    rep["is_repeat"], rep["repeat_of"] = True, orig
    # 0–5 days later at about the same hour (the same evening noise, the same morning queue); grid
    # workers come back another day (their patrol hours are redrawn per day later on)
    days = np.where(rep["source"] == "patrol", rng.integers(1, 6, n), rng.integers(0, 6, n))
    shift_h = np.where(days == 0, rng.uniform(1, 4, n), rng.normal(0, 1.5, n))
    delay = days * 86400 + (shift_h * 3600).astype(np.int64)
    rep["time"] = rep["time"].to_numpy() + delay.astype("timedelta64[s]")
    rep["lng"] = rep["lng"].to_numpy() + rng.normal(0, 4, n) / M_LNG
    rep["lat"] = rep["lat"].to_numpy() + rng.normal(0, 4, n) / M_LAT
    resident = (rep["source"] != "patrol").to_numpy()
    switch = resident & (rng.random(n) < 0.25)
    rep.loc[switch, "source"] = np.where(rep.loc[switch, "source"] == "12345", "wechat", "12345")
    pre, suf = _pick(rng, REPEAT_PREFIX, n), _pick(rng, REPEAT_SUFFIX, n)
    rep["core"] = [c if not r else p + (c.rstrip("？！。") if s else c) + s
                   for c, r, p, s in zip(rep["core"], resident, pre, suf, strict=True)]
    return pd.concat([ev, rep], ignore_index=True)


def _people(rng, n: int, style: str) -> tuple[np.ndarray, np.ndarray]:
    """Fictional reporters: surname + 女士/先生 or masked (12345), nicknames (WeChat); random mobiles."""
    surname = np.array(_pick(rng, SURNAMES, n), dtype=object)
    phones = np.array([p + f"{d:08d}" for p, d in zip(_pick(rng, MOBILE_PREFIXES, n),
                                                      rng.integers(0, 10**8, n), strict=True)], dtype=object)
    r = rng.random(n)
    if style == "12345":
        names = np.select([r < .45, r < .85, r < .95], [surname + "女士", surname + "先生", surname + "*"],
                          "匿名")
        land = np.array([f"028-85{x:06d}" for x in rng.integers(0, 10**6, n)], dtype=object)
        return names, np.where(rng.random(n) < 0.05, land, phones)
    forms = ["{s}阿姨", "{s}叔", "{s}姐", "小{s}", "{s}先生", "{s}女士", "{s}*", "Lily", "Sunny", "老{s}"]
    names = np.array([forms[int(v * len(forms))].format(s=s) for s, v in zip(surname, r, strict=True)],
                     dtype=object)
    return names, np.where(rng.random(n) < 0.7, phones, "")


def _finish(rng, grids: pd.DataFrame, ev: pd.DataFrame) -> pd.DataFrame:
    """Patrol hours, reporters, grid codes, stable source ids in time order, and the channel's wording."""
    ev = ev.copy()
    # grid workers patrol in office hours (the evening night-market patrols excepted)
    day_patrol = ((ev["source"] == "patrol") & (ev["scenario"] != "night_market")).to_numpy()
    n = int(day_patrol.sum())
    day = ev.loc[day_patrol, "time"].to_numpy().astype("datetime64[D]").astype("datetime64[s]")
    hour = rng.choice(24, n, p=HOURS_PATROL / HOURS_PATROL.sum())
    ev.loc[day_patrol, "time"] = day + (hour * 3600 + rng.integers(0, 3600, n)).astype("timedelta64[s]")
    ev["time"] = np.minimum(ev["time"].to_numpy(), END)

    # reporters; a repeat through the same channel comes from the same person
    names, phones = _people(rng, len(ev), "12345")
    wnames, wphones = _people(rng, len(ev), "wechat")
    wechat = (ev["source"] == "wechat").to_numpy()
    reporter, phone = np.where(wechat, wnames, names), np.where(wechat, wphones, phones)
    rep = np.flatnonzero(ev["is_repeat"].to_numpy())
    parent = ev["repeat_of"].to_numpy()[rep]
    same = ev["source"].to_numpy()[rep] == ev["source"].to_numpy()[parent]
    reporter[rep[same]], phone[rep[same]] = reporter[parent[same]], phone[parent[same]]
    # patrol points are the worker's phone GPS fix (a few metres off, 6 decimals); the grid each
    # request lies in is taken from the point as written, and patrol reports come from its worker
    patrol = (ev["source"] == "patrol").to_numpy()
    lng, lat = _jitter_inside(rng, ev.loc[patrol, "lng"], ev.loc[patrol, "lat"], 4)
    ev.loc[patrol, "lng"], ev.loc[patrol, "lat"] = np.round(lng, 6), np.round(lat, 6)
    ev["grid_code"] = ""
    for code, poly in zip(grids["grid_code"], grids["geometry"], strict=True):
        ev.loc[_inside(ev["lng"], ev["lat"], poly), "grid_code"] = code
    reporter[patrol] = ev.loc[patrol, "grid_code"].map(dict(zip(grids["grid_code"], grids["grid_worker"],
                                                                strict=True))).to_numpy()
    phone[patrol] = ""
    ev["reporter"], ev["phone"] = reporter, phone

    # stable source ids: channel prefix + date + sequence in time order
    ev = ev.sort_values(["time", "source", "lng"], kind="stable").reset_index(names="event")
    date = pd.to_datetime(ev["time"]).dt.strftime("%Y%m%d")
    seq = ev.groupby(["source", date]).cumcount() + 1
    ev["source_id"] = np.select(
        [ev["source"] == "12345", ev["source"] == "wechat"],
        ["CD" + date + seq.map("{:05d}".format), "WX" + date + seq.map("{:03d}".format)],
        "XC" + date + seq.map("{:03d}".format))
    id_of = dict(zip(ev["event"], ev["source"] + ":" + ev["source_id"], strict=True))
    ev["repeat_of"] = ev["repeat_of"].map(lambda i: id_of.get(i, ""))
    ev["age_days"] = (END - ev["time"].to_numpy()).astype(np.int64) / 86400
    ev["text"] = [_wrap(rng, *row) for row in
                  zip(ev["source"], ev["kind"], ev["category"], ev["core"], ev["is_repeat"], strict=True)]
    return ev


def _wrap(rng, source: str, kind: str, category: str, core: str, repeat: bool) -> str:
    """Channel voice: 12345 operators summarise, residents type casually, grid workers note and act."""
    ends = core[-1] in "。！？"
    if source == "12345":
        leads = {"q": ["市民来电咨询：", "来电咨询："], "s": ["市民来电建议：", "市民建议："],
                 "p": ["市民来电表扬：", "来电致谢："], "r": ["市民来电举报：", "来电人举报："]}.get(kind)
        if leads is None and repeat:
            leads = ["市民再次来电反映：", "来电人再次反映："]
        elif leads is None:
            leads = ["市民来电反映：", "来电人反映：", "市民反映：", ""]
        asks = ["希望尽快处理。", "请相关部门核实处理。", "望尽快解决。", "请尽快答复。", "", "", ""]
        ask = "" if kind in "qps" else asks[rng.integers(len(asks))]
        if repeat:  # the operator's lead already says 再次反映
            core = next((core[len(p):] for p in REPEAT_PREFIX if p and core.startswith(p)), core)
        return _pick(rng, leads, 1)[0] + core + ("" if ends else "。") + (f"诉求：{ask}" if ask else "")
    if source == "wechat":
        hi = ["", "", "你好，", "您好，", "网格员您好，", "社区你好，", "@网格员 "][rng.integers(7)]
        byes = ["", "，麻烦尽快处理", "，谢谢！", "！", "。", "，有没有人管？"]
        byes = ["", "谢谢！"] if ends else byes
        return hi + core + byes[rng.integers(len(byes))]
    if repeat:
        return f"复查发现：{core}，问题仍未整改。"
    acts = ["已拍照上报。", "已登记并通知责任单位。", "需协调处理。", ""]
    if category in ("PARK", "ENV", "ORDER"):  # what a grid worker can settle on the spot
        acts.append("已现场劝导。")
    act = "" if "，已" in core else acts[rng.integers(len(acts))]
    return ("" if core.startswith("走访") else "巡查发现：") + core + ("，" + act if act else "。")


def _pick(rng, items: list, n: int) -> list:
    return [items[i] for i in rng.integers(0, len(items), n)]


# ---------------------------------------------------------------- the files' rows


def _status(rng, age_days: np.ndarray, labels: list[str]) -> np.ndarray:
    """Workflow status by age: recent cases are open, older ones closed (one of the last two labels)."""
    n, last = len(age_days), len(labels) - 1
    stage = np.select([age_days < 2, age_days < 7, age_days < 20], [0, 1, 2], last - 1)
    stage = stage + rng.integers(0, 2, n)
    stage = np.where((age_days > 30) & (rng.random(n) < 0.02), 2, stage)  # a few cases stuck for long
    return np.array(labels)[np.clip(stage, 0, last)]


def _xlsx_frame(rng, gaz: pd.DataFrame, ev: pd.DataFrame) -> pd.DataFrame:
    """12345 export: GCJ-02 points from the AMap picker (6 decimals), ~2 % without a point."""
    x = ev[ev["source"] == "12345"].reset_index(drop=True)
    n, places = len(x), gaz.to_dict("records")
    glng, glat = from_wgs84(x["lng"].to_numpy() + rng.normal(0, 5, n) / M_LNG,
                            x["lat"].to_numpy() + rng.normal(0, 5, n) / M_LAT, "gcj02")
    missing = rng.random(n) < 0.02
    label = np.array([next(lab for pat, lab in LABELS_12345[c] if re.search(pat, t))
                      for c, t in zip(x["category"], x["core"], strict=True)], dtype=object)
    r = rng.random(n)
    label[r < 0.1] = None  # operators leave it blank
    label[(r >= 0.1) & (r < 0.13)] = "其他"
    return pd.DataFrame({
        "工单编号": x["source_id"],
        "受理时间": pd.to_datetime(x["time"]),
        "诉求类型": x["request_type"],
        "诉求类别": label,
        "诉求内容": x["text"],
        "事发地址": [_address_12345(rng, places[p], s)
                 for p, s in zip(x["place"], x["scenario"], strict=True)],
        "经度": np.where(missing, np.nan, np.round(glng, 6)),
        "纬度": np.where(missing, np.nan, np.round(glat, 6)),
        "联系人": x["reporter"],
        "联系电话": x["phone"],
        "办理状态": _status(rng, x["age_days"].to_numpy(), ["受理", "派单", "处置中", "已办结", "已回访"]),
        "工单来源": rng.choice(["电话", "网站", "微信公众号", "天府市民云", "市长信箱"], n,
                           p=[.7, .08, .1, .07, .05]),
    })


def _wechat_frame(rng, gaz: pd.DataFrame, ev: pd.DataFrame) -> pd.DataFrame:
    """WeChat group messages: resident-style addresses, no coordinates, times like 2026/3/5 19:42."""
    w = ev[ev["source"] == "wechat"].reset_index(drop=True)
    places = gaz.to_dict("records")
    est = gaz[gaz["level"] == "estate"]
    aliases = {n: [n] + [a for a in al.split("|") if a]
               for n, al in zip(est["name"], est["aliases"].fillna(""), strict=True)}
    t = pd.to_datetime(w["time"])
    when = (t.dt.year.astype(str) + "/" + t.dt.month.astype(str) + "/" + t.dt.day.astype(str) + " "
            + t.dt.hour.astype(str) + ":" + t.dt.strftime("%M"))
    return pd.DataFrame({
        "编号": w["source_id"], "时间": when, "内容": w["text"],
        "地址": [_address_wechat(rng, places[p], s, aliases)
               for p, s in zip(w["place"], w["scenario"], strict=True)],
        "联系人": w["reporter"], "电话": w["phone"],
    })


def _patrol_frame(rng, ev: pd.DataFrame) -> pd.DataFrame:
    """Grid workers' reports: phone GPS points (WGS84), 数字城管 大类/小类 classes."""
    p = ev[ev["source"] == "patrol"].reset_index(drop=True)
    return pd.DataFrame({
        "id": p["source_id"],
        "reported_at": pd.to_datetime(p["time"]).dt.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
        "description": p["text"],
        "category": p["patrol_label"],
        "grid_code": p["grid_code"], "reporter": p["reporter"],
        "status": _status(rng, p["age_days"].to_numpy(),
                          ["已上报", "已立案", "已派遣", "已处置", "已核查", "已结案"]),
        "lng": p["lng"], "lat": p["lat"],
    })


def _chinese_number(n: int) -> str:
    """12 → 十二, 105 → 一百零五 (residents write house and building numbers both ways)."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 100:
        tens = "" if n < 20 else digits[n // 10]
        return tens + "十" + (digits[n % 10] if n % 10 else "")
    rest = n % 100
    if rest == 0:
        return digits[n // 100] + "百"
    tail = "零" + digits[rest] if rest < 10 else "一" * (rest < 20) + _chinese_number(rest)
    return digits[n // 100] + "百" + tail


FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _address_12345(rng, g: dict, scn: str) -> str:
    """Operators type structured addresses: city and district, often street and community."""
    head = ["成都市武侯区", "四川省成都市武侯区", "武侯区", "成都市武侯区芳华街道"][rng.integers(4)]
    if scn == "night_market":
        return head + ["芳华街夜市", f"芳华街{g['number']}号附近", f"芳华街{g['number']}号"][rng.integers(3)]
    if scn == "bike_shed":
        return head + "锦华社区桂苑小区2栋旁车棚"
    if scn == "school_gate":
        return head + ["桂溪路锦华小学门口", f"桂溪路{g['number']}号锦华小学"][rng.integers(2)]
    if g["level"] == "building":
        unit = f"{rng.integers(1, 4)}单元" if rng.random() < 0.4 else ""
        return f"{head}{g['community']}{g['estate']}{g['building']}栋{unit}"
    if g["level"] == "estate":
        return f"{head}{g['community']}{g['estate']}"
    return f"{head}{g['road']}{g['number']}号" + ("附近" if rng.random() < 0.4 else "")


def _address_wechat(rng, g: dict, scn: str, aliases: dict[str, list[str]]) -> str:
    """Addresses as residents type them: aliases, 号楼/幢, full-width or Chinese numerals, 楼下/附近."""

    def num(n: str) -> str:
        x = rng.random()
        return n.translate(FULLWIDTH) if x < 0.12 else _chinese_number(int(n)) if x < 0.24 else n

    def one(options: list[str]) -> str:
        return options[rng.integers(len(options))]

    if scn == "night_market":
        n = num(g["number"])
        return one(["芳华街夜市", "芳华街夜市", f"芳华街{n}号附近", f"芳华街{n}号旁边", "夜市", "芳华街"])
    if scn == "bike_shed":
        return one(["桂苑小区车棚", "桂苑小区2栋楼下", "桂苑2栋车棚"])
    if scn == "school_gate":
        return one(["锦华小学门口", "锦华小学", f"桂溪路{num(g['number'])}号"])
    if scn == "neighbour":
        return f"锦东社区金色家园{g['building']}栋"
    if rng.random() < 0.03:
        return "锦华社区"  # only the community: the geocoder can do no better than its centroid
    if g["level"] == "building":
        name, b, u = one(aliases[g["estate"]]), num(g["building"]), rng.integers(1, 4)
        return one([f"{name}{b}栋楼下", f"{name}{b}栋", f"{name}{b}号楼", f"{name}{b}幢{u}单元",
                    f"{name}{b}栋门口", f"{name}{b}栋{u}单元"])
    if g["level"] == "estate":
        name = one(aliases[g["estate"]])
        return name + one(["", "门口", "里面", "大门口"])
    if isinstance(g["aliases"], str) and g["aliases"] and rng.random() < 0.5:
        return g["aliases"].split("|")[0] + one(["", "门口", "附近"])
    head = "四川省成都市武侯区" if rng.random() < 0.15 else ""
    return f"{head}{g['road']}{num(g['number'])}号" + one(["", "附近", "旁边", "对面"])


def _bad_rows(gaz: pd.DataFrame) -> pd.DataFrame:
    """~20 deliberately bad 12345-style rows (WGS84) with 说明 saying what is wrong, and 5 good ones.

    Coordinates written ``@name`` are the gazetteer point of that entry, so the rows whose fault lies
    elsewhere are right about the place.
    """
    ours = gaz[gaz["community"] == COMMUNITY]
    at = {n: (f"{x:.6f}", f"{y:.6f}") for n, x, y in zip(ours["name"], ours["lng"], ours["lat"], strict=True)}
    ok = "成都市武侯区芳华街道锦华社区"
    rows = [  # id, time, type, label, text, address, lng, lat, 说明
        ("CD2026060199001", "2026-06-01 09:12:00", "投诉", "物业管理", "锦城花园2栋电梯又坏了，老人下不了楼",
         ok + "锦城花园2栋", "@", "锦城花园2栋", "正常行（对照）"),
        ("CD2026060199002", "", "投诉", "环境卫生", "桂苑小区门口垃圾桶满了没人清运",
         ok + "桂苑小区", "@", "桂苑小区", "缺少受理时间"),
        ("CD2026060199003", "2026-13-45 10:00:00", "投诉", "噪音扰民", "芳华街夜市噪音太大，吵到凌晨",
         "武侯区芳华街夜市", "104.063000", "30.632000", "受理时间无法解析（13 月 45 日）"),
        ("CD2026060199004", "2026-06-02 10:30:00", "求助", "供水", "",
         ok + "颐年苑1栋", "@", "颐年苑1栋", "诉求内容为空"),
        ("CD2026060199005", "2026-06-02 11:05:00", "投诉", "交通管理", "锦华小学门口接送车辆乱停放",
         "武侯区桂溪路锦华小学门口", "30.644000", "104.068300", "经纬度写反（经度 30.6，纬度 104.0）"),
        ("CD2026060199006", "2026-06-02 14:20:00", "投诉", "市政设施", "玉华路路灯坏了好几天",
         "北京市东城区东长安街", "116.397428", "39.909230", "坐标远在服务区之外（北京）"),
        ("CD2026060199007", "2026-06-03 09:00:00", "投诉", "环境卫生", "小区里卫生死角很多，异味很大",
         ok + "芳华苑", "104.0x", "30.6400", "经度不是数字（104.0x）"),
        ("CD2026060199008", "2026-06-03 09:40:00", "咨询", "民政", "咨询低保申请条件",
         ok + "颐年苑", "@", "颐年苑", "正常行（对照）"),
        ("CD2026060199009", "2026-06-03 10:15:00", "投诉", "城市管理", "有商贩占道经营，人行道被占满",
         "火星路999号月亮小区", "", "", "无坐标，地址在地名库中查不到"),
        ("CD2026060199010", "2026-06-03 15:00:00", "投诉", "物业管理", "楼上漏水，卫生间天花板一直滴水",
         ok + "锦城花园4栋", "@", "锦城花园4栋", "正常行（对照）"),
        ("CD2026060199010", "2026-06-04 08:30:00", "投诉", "噪音扰民", "楼上装修噪音太大，周末一大早就开始",
         ok + "华兴花园", "@", "华兴花园", "工单编号与上一行重复（文件内重复编号）"),
        ("CD2026060199011", "2026-06-04 09:00:00", "投诉", "环境卫生", "NULL",
         ok + "银杏园", "@", "银杏园", "诉求内容为“NULL”占位符"),
        ("CD2026060199012", "2026-06-04 11:11:00", "投诉", "市政设施", "路面积水很深，过不了人",
         "", "0", "0", "坐标为 0,0 且无地址"),
        ("CD2026060199013", "2026-06-04 16:45:00", "投诉", "停车管理", "停车难，每天下班找不到车位",
         ok + "望江名居", "104.060000", "95.000000", "纬度超出 -90..90"),
        ("CD2026060199014", "2026-02-30 09:00:00", "投诉", "环境卫生", "垃圾分类站点脏乱差",
         ok + "翠竹苑", "@", "翠竹苑", "日期不存在（2 月 30 日）"),
        ("CD2026060199015", "昨天下午三点", "投诉", "噪音扰民", "广场舞音响开得太大，严重扰民",
         ok + "南苑小区", "@", "南苑小区", "受理时间不是日期（“昨天下午三点”）"),
        ("CD2026060199016", "2026-06-05 10:00:00", "求助", "燃气", "闻到很重的煤气味，怀疑燃气泄漏",
         "", "104.070000", "", "只有经度没有纬度，且无地址"),
        ("CD2026060199017", "2026-06-05 10:30:00", "投诉", "交通管理", "斑马线的线都磨没了",
         "成都市青羊区天府广场", "104.065700", "30.657300", "坐标在成都市内但在服务区外（天府广场）"),
        ("CD2026060199018", "2026-06-05 14:00:00", "建议", "市政设施", "建议在玉华路多装几盏路灯",
         "武侯区玉华路", "104.060000", "30.640000", "正常行（对照）"),
        ("CD2026060199019", "2026-06-06 09:20:00", "投诉", "物业管理", "物业服务太差，物业费照收问题没人解决",
         ok + "锦绣园", "104,0600", "30,6380", "小数点写成逗号（104,0600）"),
        ("CD2026060199020", "2027-05-01 09:00:00", "投诉", "环境卫生", "楼下垃圾堆放好几天了",
         ok + "芙蓉苑", "@", "芙蓉苑", "受理时间在未来（2027 年）"),
        ("CD2026060199021", "2026-06-06 10:00:00", "投诉", "噪音扰民", "   ",
         ok + "龙腾苑", "@", "龙腾苑", "诉求内容只有空格"),
        ("", "2026-06-06 11:00:00", "求助", "民政", "独居老人好几天没出门了，请社区上门看看",
         ok + "颐年苑3栋", "@", "颐年苑3栋", "正常行（对照）：没有工单编号，应按内容生成稳定编号"),
        ("CD2026060199022", "2026-06-06 15:30:00", "投诉", "环境卫生", "化粪池满溢，异味很大",
         ok + "清水湾", "104.960000", "30.630000", "经度错一位（104.96，在服务区以东约 85 km）"),
        ("CD2026060199023", "2026-06-07 09:10:00", "投诉", "城市管理", "电线杆上贴满了小广告",
         ok + "书香苑", "NaN", "NaN", "经纬度为 NaN 字样：应视为无坐标，按地址定位到小区（不应拒收）"),
    ]
    rows = [r[:6] + (at[r[7]] if r[6] == "@" else r[6:8]) + r[8:] for r in rows]
    cols = ["工单编号", "受理时间", "诉求类型", "诉求类别", "诉求内容", "事发地址", "经度", "纬度", "说明"]
    df = pd.DataFrame(rows, columns=cols)
    df.insert(8, "联系人", ["王女士", "李先生", "张*", "刘女士", "陈先生"] * 5)
    df.insert(9, "联系电话", [MOBILE_PREFIXES[i % len(MOBILE_PREFIXES)] + f"{i * 7_919_003 % 10**8:08d}"
                          for i in range(len(df))])
    df.insert(10, "办理状态", "受理")
    df.insert(11, "工单来源", "电话")
    return df


def build(seed: int = SEED) -> Sample:
    """Build the whole sample in memory (no files); the same seed gives the same frames."""
    rng = np.random.default_rng(seed)
    gaz = _gazetteer(rng)
    grids = _grids(rng, gaz)
    ev = _events(rng, gaz)
    ev["source"] = _assign_sources(rng, ev)
    ev = _add_texts(rng, gaz, ev)
    ev = _add_repeats(rng, ev, round(TOTAL_REQUESTS * REPEAT_SHARE))
    ev = _finish(rng, grids, ev)
    truth = ev[["source", "source_id", "scenario", "category", "request_type", "time", "lng", "lat",
                "grid_code", "is_repeat", "repeat_of", "where", "text"]].copy()
    truth.insert(11, "place", gaz.loc[ev["place"], "name"].to_numpy())
    return Sample(community=BOUNDARY, grids=grids, gazetteer=gaz, requests=truth,
                  xlsx=_xlsx_frame(rng, gaz, ev), wechat=_wechat_frame(rng, gaz, ev),
                  patrol=_patrol_frame(rng, ev), bad_rows=_bad_rows(gaz))


# ---------------------------------------------------------------- writers


def _geometry(geom) -> dict:
    """GeoJSON geometry with ≤ 7 decimals (RFC 7946)."""
    def ring(coords) -> list:
        return [[round(x, 7), round(y, 7)] for x, y in coords]

    if geom.geom_type == "Point":
        return {"type": "Point", "coordinates": [round(geom.x, 7), round(geom.y, 7)]}
    if geom.geom_type == "Polygon":
        rings = [ring(geom.exterior.coords)] + [ring(i.coords) for i in geom.interiors]
        return {"type": "Polygon", "coordinates": rings}
    return {"type": "MultiPolygon", "coordinates": [_geometry(p)["coordinates"] for p in geom.geoms]}


def _write_geojson(path: Path, features: list[tuple[dict, object]]) -> None:
    """RFC 7946 FeatureCollection: WGS84 lng/lat, no crs member; one feature per line for readable diffs."""
    lines = [json.dumps({"type": "Feature", "properties": props, "geometry": _geometry(geom)},
                        ensure_ascii=False, separators=(",", ":")) for props, geom in features]
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"
    path.write_text(text, encoding="utf-8")


def _write_xlsx(path: Path, df: pd.DataFrame) -> None:
    """openpyxl workbook, then re-zipped with fixed document and entry times so the bytes repeat."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    wb.properties.creator = "gridgis sample generator"
    wb.properties.title = "12345热线工单导出（合成数据）"
    ws = wb.create_sheet("工单明细")
    for col, width in zip("ABCDEFGHIJKL", [18, 20, 8, 10, 60, 40, 12, 12, 10, 14, 10, 10], strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    ws.append(list(df.columns))
    values = df.astype(object).where(df.notna(), None).to_numpy().tolist()
    for t, row in zip(df["受理时间"].dt.to_pydatetime(), values, strict=True):
        cell = WriteOnlyCell(ws, value=t)
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        row[1] = cell
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "now" into it on save
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, data)


def write(sample: Sample, out: Path, truth: bool = False) -> list[Path]:
    """Write every sample file into ``out`` (and ``truth.csv`` if asked); returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / v for k, v in FILES.items()}
    _write_geojson(paths["community"], [({"name": COMMUNITY, "subdistrict": STREET, "district": DISTRICT,
                                          "city": CITY, "synthetic": True},
                                         shapely.orient_polygons(sample.community, exterior_cw=False))])
    _write_geojson(paths["grids"], [({k: v for k, v in row.items() if k != "geometry"}, row["geometry"])
                                    for row in sample.grids.to_dict("records")])
    sample.gazetteer.to_csv(paths["gazetteer"], index=False, lineterminator="\n", encoding="utf-8",
                            float_format="%.6f")
    _write_xlsx(paths["xlsx"], sample.xlsx)
    # exported on a Windows PC: GBK with CRLF line ends
    sample.wechat.to_csv(paths["wechat"], index=False, lineterminator="\r\n", encoding="gbk")
    _write_geojson(paths["patrol"], [({k: v for k, v in row.items() if k not in ("lng", "lat")},
                                      Point(row["lng"], row["lat"]))
                                     for row in sample.patrol.to_dict("records")])
    sample.bad_rows.to_csv(paths["bad_rows"], index=False, lineterminator="\n", encoding="utf-8")
    written = list(paths.values())
    if truth:
        iso = pd.to_datetime(sample.requests["time"]).dt.strftime("%Y-%m-%dT%H:%M:%S+08:00")
        t = sample.requests.assign(time=iso)
        t.to_csv(out / "truth.csv", index=False, lineterminator="\n", encoding="utf-8", float_format="%.6f")
        written.append(out / "truth.csv")
    return written


def generate(out: Path = HERE, seed: int = SEED, truth: bool = False) -> list[Path]:
    """Build and write the sample; the committed files are ``generate()`` with the defaults."""
    return write(build(seed), out, truth=truth)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate the synthetic 锦华社区 sample data (deterministic).")
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: sample_data/)")
    ap.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    ap.add_argument("--truth", action="store_true", help="also write truth.csv, the ground truth per request")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in generate(args.out, args.seed, args.truth):
        log.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
