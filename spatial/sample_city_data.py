"""Fixed tables behind the sample city (:mod:`spatial.sample_city`).

District codes and names are the real GB/T 2260 entries for Hangzhou after the 2021 reform; the
centres are approximate real locations and only seed the synthetic Voronoi boundaries.  Place and
road names are real Hangzhou names used as flavour; every enterprise, person and project is
synthetic.  Nothing here is random: :mod:`spatial.sample_city` draws from these tables with a seeded
generator.
"""

from __future__ import annotations

from datetime import date

CITY_NAME = "杭州市"
CITY_CODE = "330100"

#: The "today" of the sample city: every reached stage is on or before it, nothing depends on the
#: wall clock.
AS_OF = date(2025, 6, 30)

BOUNDARY_NOTE = (
    "示意边界：本区界为按各区大致中心生成的泰森多边形，仅供演示，不代表真实行政区划界线；"
    "只有区划代码和名称是真实的。"
    " Synthetic, illustrative boundary (Voronoi cells around approximate district centres), not "
    "the real administrative boundary; only the GB/T 2260 code and name are real."
)

#: A simplified city outline (lon, lat), roughly 119.5–120.75 E, 29.85–30.55 N.  Convex, so every
#: clipped Voronoi cell is convex too.
CITY_OUTLINE = (
    (119.50, 30.10), (119.60, 29.88), (119.95, 29.85), (120.45, 29.92), (120.75, 30.15),
    (120.72, 30.42), (120.45, 30.55), (119.95, 30.55), (119.55, 30.45),
)

# code, name, name_en, centre lon, centre lat, share of projects, land-title prefix, Gaussian
# spread (degrees) of project sites around the centre.
DISTRICTS = (
    ("330102", "上城区", "Shangcheng District", 120.205, 30.285, 0.15, "杭", 0.025),
    ("330105", "拱墅区", "Gongshu District", 120.145, 30.330, 0.13, "杭", 0.020),
    ("330106", "西湖区", "Xihu District", 120.085, 30.245, 0.13, "杭", 0.030),
    ("330108", "滨江区", "Binjiang District", 120.195, 30.190, 0.10, "杭", 0.020),
    ("330109", "萧山区", "Xiaoshan District", 120.330, 30.130, 0.12, "萧", 0.050),
    ("330110", "余杭区", "Yuhang District", 119.955, 30.370, 0.10, "余", 0.050),
    ("330111", "富阳区", "Fuyang District", 119.880, 29.990, 0.06, "富", 0.050),
    ("330112", "临安区", "Lin'an District", 119.640, 30.220, 0.05, "临", 0.050),
    ("330113", "临平区", "Linping District", 120.300, 30.430, 0.08, "杭", 0.035),
    ("330114", "钱塘区", "Qiantang District", 120.500, 30.300, 0.08, "杭", 0.045),
)

# Places (streets, towns, areas) and roads per district, real names, used only in text.
PLACES = {
    "330102": ("望江", "钱江新城", "九堡", "丁兰", "四季青", "笕桥", "彭埠", "采荷", "凯旋", "湖滨"),
    "330105": ("大关", "半山", "康桥", "祥符", "拱宸桥", "上塘", "石桥", "和睦", "米市巷", "湖墅"),
    "330106": ("三墩", "蒋村", "转塘", "留下", "之江", "文新", "古荡", "翠苑", "双浦", "灵隐"),
    "330108": ("长河", "浦沿", "西兴", "江南", "白马湖", "物联网街"),
    "330109": ("城厢", "北干", "宁围", "瓜沥", "义桥", "新塘", "闻堰", "所前", "临浦", "益农"),
    "330110": ("五常", "仓前", "闲林", "良渚", "瓶窑", "中泰", "径山", "余杭", "仁和"),
    "330111": ("富春", "银湖", "东洲", "新登", "场口", "春江", "鹿山", "大源"),
    "330112": ("锦城", "青山湖", "玲珑", "於潜", "锦南", "锦北", "太湖源", "高虹"),
    "330113": ("南苑", "东湖", "塘栖", "崇贤", "乔司", "星桥", "运河", "临平"),
    "330114": ("下沙", "白杨", "义蓬", "河庄", "前进", "新湾", "临江"),
}
ROADS = {
    "330102": ("钱江路", "解放东路", "秋涛路", "凯旋路", "艮山东路", "新塘路", "九堡大道",
               "望江东路", "庆春东路", "德胜东路"),
    "330105": ("莫干山路", "湖墅南路", "上塘路", "石祥路", "丽水路", "登云路", "沈半路",
               "康桥路", "祥园路", "大关路"),
    "330106": ("文三路", "天目山路", "文一西路", "古墩路", "紫金港路", "之江路", "留和路",
               "西溪路", "余杭塘路", "三墩路"),
    "330108": ("江南大道", "滨盛路", "长河路", "江晖路", "网商路", "建业路", "伟业路", "春波路"),
    "330109": ("萧然南路", "市心路", "建设一路", "金城路", "通惠路", "鸿达路", "风情大道",
               "湘湖路", "振宁路", "亚奥路"),
    "330110": ("五常大道", "文一西路", "良渚路", "荆长大道", "海曙路", "余杭塘路", "古墩路",
               "良睦路", "仓兴街"),
    "330111": ("金桥路", "恩波大道", "迎宾路", "江滨西大道", "高尔夫路", "新桥路", "银湖街"),
    "330112": ("钱王大街", "城中街", "科技大道", "青山大道", "天目路", "衣锦街", "苕溪南街"),
    "330113": ("临平大道", "迎宾路", "世纪大道", "藕花洲大街", "人民大道", "东湖路", "超峰西路"),
    "330114": ("金沙大道", "学林街", "文渊路", "江东大道", "青六路", "围垦街", "幸福路"),
}
RIVERS = ("京杭运河", "余杭塘河", "上塘河", "西溪河", "沿山河", "备塘河", "杭甬运河", "东苕溪",
          "富春江", "南苕溪", "浦阳江", "新开河")

STAGES = (
    "approval", "planning_permit", "drawing_review", "tendering", "supervision_registration",
    "construction_permit", "under_construction", "completion_acceptance", "filing",
)
STAGE_LABELS = ("立项批复", "取得建设工程规划许可证", "施工图审查合格", "完成招投标", "办理质量安全监督手续",
                "取得施工许可证", "开工建设", "竣工验收", "竣工验收备案")
#: Share of projects at each stage (weighted towards under_construction).
STAGE_WEIGHTS = (0.04, 0.04, 0.05, 0.05, 0.04, 0.06, 0.47, 0.10, 0.15)
#: Days from one stage to the next (low, high), uniform; the last entry is finish -> filing.
STAGE_GAPS = ((30, 180), (30, 120), (20, 90), (10, 45), (5, 30), (1, 60))
FILING_GAP = (15, 90)

TYPES = ("housing", "public_building", "municipal", "industrial", "transport", "water")
TYPE_WEIGHTS = (0.40, 0.22, 0.15, 0.10, 0.08, 0.05)

# Subtypes: type, key, key_livelihood, share within type, storeys (low, high), basement levels
# (low, high), side lengths in metres (short low, short high, long low, long high), yuan/m² or
# 万元 median for infrastructure, planned duration days (low, high).
_AH, _PB = "affordable_housing", "public_building"
SUBTYPES = (
    ("housing", "commercial_housing", None, 0.62, (11, 33), (1, 3), (20, 45, 40, 120), 4200, (700, 1100)),
    ("housing", "resettlement", _AH, 0.08, (11, 26), (1, 2), (20, 40, 40, 110), 3600, (650, 1000)),
    ("housing", "rental", _AH, 0.04, (11, 26), (1, 2), (20, 40, 40, 100), 3500, (600, 950)),
    ("housing", "shared_ownership", _AH, 0.02, (15, 26), (1, 2), (20, 40, 40, 100), 3600, (600, 950)),
    ("housing", "talent_apartment", None, 0.24, (15, 30), (1, 2), (20, 35, 30, 80), 4000, (600, 950)),
    (_PB, "school", "school", 0.12, (3, 6), (0, 1), (40, 90, 80, 150), 3800, (450, 700)),
    (_PB, "kindergarten", "school", 0.04, (2, 4), (0, 1), (30, 50, 40, 80), 3500, (360, 540)),
    (_PB, "hospital", "hospital", 0.05, (6, 22), (1, 3), (50, 100, 80, 150), 6500, (800, 1300)),
    (_PB, "health_centre", "hospital", 0.03, (3, 6), (0, 1), (25, 45, 30, 70), 4500, (400, 600)),
    (_PB, "complex", None, 0.26, (5, 45), (2, 4), (50, 110, 80, 150), 6000, (800, 1400)),
    (_PB, "office", None, 0.22, (10, 40), (2, 3), (30, 60, 40, 90), 5500, (700, 1100)),
    (_PB, "culture", None, 0.14, (2, 6), (0, 1), (50, 100, 60, 150), 6000, (600, 900)),
    (_PB, "elderly_care", None, 0.14, (4, 12), (0, 1), (30, 60, 40, 90), 4000, (500, 800)),
    ("municipal", "road", None, 0.40, (0, 0), (0, 0), (24, 50, 300, 1500), 9000, (400, 900)),
    ("municipal", "utility_tunnel", None, 0.15, (0, 0), (0, 0), (12, 20, 400, 1500), 25000, (500, 1000)),
    ("municipal", "sewer", None, 0.25, (0, 0), (0, 0), (20, 40, 200, 900), 3000, (180, 450)),
    ("municipal", "bridge", None, 0.10, (0, 0), (0, 0), (25, 45, 80, 300), 12000, (400, 800)),
    ("municipal", "park", None, 0.10, (0, 0), (0, 0), (80, 150, 120, 400), 4000, (200, 450)),
    ("industrial", "factory", None, 0.60, (1, 6), (0, 0), (40, 100, 80, 150), 2800, (360, 600)),
    ("industrial", "data_centre", None, 0.15, (3, 6), (0, 1), (40, 80, 60, 150), 9000, (450, 750)),
    ("industrial", "rd_centre", None, 0.25, (6, 20), (1, 2), (30, 70, 50, 120), 4500, (500, 850)),
    ("transport", "metro_station", None, 0.35, (0, 0), (2, 3), (22, 26, 180, 480), 60000, (900, 1400)),
    ("transport", "expressway", None, 0.25, (0, 0), (0, 0), (30, 60, 600, 2500), 120000, (900, 1500)),
    ("transport", "bus_hub", None, 0.20, (1, 4), (0, 1), (40, 90, 60, 150), 6000, (400, 700)),
    ("transport", "tunnel", None, 0.20, (0, 0), (0, 0), (20, 35, 400, 1800), 150000, (900, 1600)),
    ("water", "sewage_plant", None, 0.30, (1, 2), (0, 1), (80, 150, 120, 300), 40000, (500, 900)),
    ("water", "pump_station", None, 0.30, (1, 2), (0, 1), (25, 50, 30, 80), 6000, (300, 600)),
    ("water", "river", None, 0.25, (0, 0), (0, 0), (30, 80, 400, 2000), 15000, (300, 700)),
    ("water", "waterworks", None, 0.15, (1, 3), (0, 1), (80, 150, 100, 250), 30000, (500, 900)),
)
#: Types whose non-building subtypes are costed from a median in 万元 rather than by floor area.
INFRA_TYPES = ("municipal", "transport", "water")

# Enterprises: role tuple, how many, name templates ({w} = trade-name word, {p} = place prefix).
ENTERPRISE_KINDS = (
    (("construction",), 14, ("杭州{p}{w}城市建设发展有限公司", "杭州{w}置业有限公司",
                             "杭州{p}{w}城市发展投资集团有限公司", "浙江{w}房地产开发有限公司")),
    (("contractor",), 22, ("浙江{w}建设集团有限公司", "杭州{w}建筑工程有限公司",
                           "浙江{w}建工集团有限公司", "杭州{w}市政工程集团有限公司")),
    (("supervision",), 12, ("浙江{w}工程监理有限公司", "杭州{w}工程管理咨询有限公司",
                            "浙江{w}建设项目管理有限公司")),
    (("survey",), 6, ("浙江{w}岩土勘察有限公司", "杭州{w}工程勘察院有限公司")),
    (("design",), 8, ("浙江{w}建筑设计研究院有限公司", "杭州{w}市政工程设计院有限公司",
                      "浙江{w}建筑设计有限公司")),
    (("survey", "design"), 6, ("浙江{w}勘察设计研究院有限公司", "杭州{w}勘测设计有限公司")),
)
#: Two-character trade names (字号), invented combinations.
TRADE_WORDS = (
    "华锦", "恒远", "明诚", "嘉泰", "鼎盛", "宏基", "天睿", "新筑", "瑞丰", "广筑", "卓远", "正元",
    "永固", "盛鸿", "澄湾", "之澜", "云栖", "亿丰", "博安", "泽信", "金筑", "东瀚", "弘誉", "浩川",
    "越和", "临川", "维远", "博衡", "锦泰", "建恒", "方圆", "长宏", "诚拓", "立信", "丰源", "润达",
    "汇通", "展鸿", "中衡", "安泓", "凯晟", "德远", "华筑", "天衡", "宸泰", "青川", "励建", "众诚",
    "信和", "嘉锐", "远峰", "禾丰", "铭城", "合创", "晟基", "弘正", "江越", "恒筑", "辰元", "坤宇",
    "瀚宇", "启明", "融信", "宏晟", "博睿", "固安", "泰和", "浙华", "新嘉", "如川", "景岳", "同筑",
)
PLACE_PREFIXES = ("上城", "拱墅", "西湖", "滨江", "萧山", "余杭", "富阳", "临安", "临平", "钱塘")

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵钱严戴"
)
GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏斌宇浩凯健俊帆帅旭宁峰"
    "建国志林海波晨阳晓东文辉力军永立新亮成春雪梅晶晨琳慧佳欣雨婷思远博翔宏伟振江锋嘉"
)

# Project names and addresses per subtype. Fields: {d} district, {p} place, {r}/{r2} roads,
# {v} river, {a} land-title prefix, {y} year, {n} a number up to 60, {cn} a Chinese ordinal
# (一 … 十九), {m} a metro line (1–19).
NAMES = {
    "commercial_housing": ("{a}政储出〔{y}〕{n}号地块商品住宅项目", "{p}单元{n}号地块住宅项目"),
    "resettlement": ("{d}{p}安置房项目", "{p}单元{n}号地块安置房工程", "{r}东侧安置房项目"),
    "rental": ("{p}保障性租赁住房项目", "{d}{r}保障性租赁住房（{n}号地块）"),
    "shared_ownership": ("{p}共有产权保障住房项目",),
    "talent_apartment": ("{p}人才公寓项目", "{d}{p}青年人才社区"),
    "school": ("{d}{p}小学新建工程", "{p}中学扩建工程", "{d}{p}实验学校新建工程",
               "{d}第{cn}中学迁建工程"),
    "kindergarten": ("{p}幼儿园新建工程", "{d}{p}第{cn}幼儿园"),
    "hospital": ("{d}第{cn}人民医院迁建工程", "{d}中医院扩建工程", "{d}妇幼保健院新建工程"),
    "health_centre": ("{p}社区卫生服务中心新建工程", "{p}街道卫生服务中心迁建工程"),
    "complex": ("{p}{r}商业综合体", "{d}{p}城市综合体项目", "{p}TOD综合体"),
    "office": ("{p}科创中心项目", "{d}{r}总部大楼", "{p}数字经济产业园"),
    "culture": ("{d}{p}文体中心", "{d}图书馆新馆", "{p}体育馆新建工程"),
    "elderly_care": ("{p}养老服务中心", "{d}社会福利中心二期"),
    "road": ("{r}（{r2}至{p}段）道路工程", "{r}提升改造工程", "{p}单元{n}号支路工程"),
    "utility_tunnel": ("{r}综合管廊工程", "{p}综合管廊（一期）"),
    "sewer": ("{p}雨污分流管网改造工程", "{r}污水管网提升工程"),
    "bridge": ("{r}跨{v}桥梁工程", "{v}{p}大桥新建工程"),
    "park": ("{p}公园提升工程", "{v}{p}段滨水绿道工程"),
    "factory": ("{p}标准厂房项目", "{d}{p}智能制造产业园"),
    "data_centre": ("{p}数据中心项目",),
    "rd_centre": ("{p}研发中心项目", "{d}{p}生物医药研发楼"),
    "metro_station": ("地铁{m}号线{p}站", "地铁{m}号线{r}站土建工程"),
    "expressway": ("{r}快速路工程", "{r}—{r2}互通立交工程"),
    "bus_hub": ("{p}公交首末站", "{p}综合交通枢纽"),
    "tunnel": ("{r}隧道工程", "{v}{p}过江隧道"),
    "sewage_plant": ("{p}污水处理厂扩建工程", "{d}{p}净水厂（四期）"),
    "pump_station": ("{p}排涝泵站工程", "{r}雨水泵站工程"),
    "river": ("{v}{p}段综合整治工程", "{v}清淤及护岸改造工程"),
    "waterworks": ("{p}水厂扩建工程", "{d}第{cn}水厂新建工程"),
}

#: Site phases (形象进度) of non-building works, in order; buildings are described by storey.
PHASES = {
    "road": ("管线迁改", "路基施工", "雨污管道铺设", "路面结构层施工", "附属设施及绿化施工"),
    "utility_tunnel": ("围护结构施工", "基坑开挖", "管廊主体结构浇筑", "管线入廊及附属设施安装"),
    "sewer": ("沟槽开挖", "管道铺设", "检查井砌筑及闭水试验", "路面恢复"),
    "bridge": ("桩基施工", "承台及墩柱施工", "上部结构施工", "桥面系及附属工程"),
    "park": ("场地平整", "园路及景观构筑物施工", "绿化种植"),
    "metro_station": ("围护结构施工", "基坑开挖及支撑施工", "车站主体结构施工", "附属结构及装修"),
    "expressway": ("桩基施工", "墩柱施工", "预制箱梁架设", "桥面铺装及附属工程"),
    "tunnel": ("工作井施工", "盾构掘进", "内部结构施工", "机电安装及装修"),
    "river": ("围堰及清淤", "护岸砌筑", "景观绿化施工"),
    "sewage_plant": ("桩基施工", "构筑物池体施工", "设备安装", "联动调试"),
    "waterworks": ("桩基施工", "构筑物池体施工", "设备安装", "联动调试"),
    "pump_station": ("围护及基坑开挖", "泵房结构施工", "设备安装调试"),
}

# Districts where projects cluster (the old town) and where hand-dug piles still occur (hills).
CENTRAL_DISTRICTS = ("330102", "330105", "330106", "330108")
HILLY_DISTRICTS = ("330111", "330112")
# 一 … 十九, for building numbers in project names.
CN_NUMBERS = tuple("一二三四五六七八九") + tuple("十" + c for c in "一二三四五六七八九")
