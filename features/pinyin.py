"""Toneless pinyin of the characters common in Chinese personal names (for linking).

A compact table of the ~400 characters that make up most surnames and given names, so
that a record registered in characters links to one registered in pinyin, and a
homophone typo (玲/琳 ling/lin excepted) keeps the same pinyin. Polyphonic characters take
their reading in names (e.g. 单 shan, 曾 zeng, 解 xie). Characters outside the table are
kept as they are, so two records with the same rare character still agree.
"""

from __future__ import annotations

import re
import unicodedata

_TABLE = """
a:阿 ai:艾爱 an:安 ang:昂 ao:敖奥 ba:巴 bai:白柏百 ban:班 bao:包宝保鲍 bei:贝北 ben:本
bi:毕碧 bian:边卞 bin:斌彬滨宾 bing:冰兵炳 bo:波博柏伯 bu:卜布 cai:蔡才彩 cao:曹草
cen:岑 chang:常昌长畅 chao:超朝潮巢 chen:陈晨辰臣 cheng:程成诚承城 chi:迟池 chong:崇冲
chu:楚储初 chuan:川传 chun:春纯 cong:丛聪 cui:崔翠 cun:村 da:达大 dai:戴代黛 dan:丹
dang:党 dao:道 de:德 deng:邓登 di:狄迪娣 dian:典 ding:丁定 dong:董东冬栋 dou:窦 du:杜
duan:段端 e:鄂 en:恩 er:二尔 fa:发 fan:范樊凡帆 fang:方房芳放 fei:费飞菲
fen:芬 feng:冯封丰凤风峰锋枫
fu:傅付福富符伏扶 gai:盖 gan:甘 gang:钢刚港 gao:高 ge:葛戈格 geng:耿庚 gong:龚宫巩
gu:顾谷古 guan:关官冠 guang:光广 gui:桂贵 guo:郭国果 ha:哈 hai:海 han:韩汉寒涵含晗
hang:杭航 hao:郝浩皓昊好 he:何贺和赫荷 hei:黑 heng:衡恒 hong:洪红宏鸿虹弘 hou:侯厚
hu:胡虎湖 hua:华桦花 huai:怀 huan:欢环 huang:黄皇 hui:惠辉晖慧会 huo:霍火
ji:纪吉季姬冀计继 jia:贾佳嘉家甲
jian:简建健剑坚 jiang:江姜蒋将 jiao:焦娇 jie:杰洁捷 jin:金晋锦进瑾 jing:景敬静晶京婧菁 jiu:久
ju:鞠菊 juan:娟涓 jun:君军俊骏钧 kai:凯开楷 kang:康亢 ke:柯可克科 kong:孔 kou:寇
kuang:匡况 kun:坤昆 lai:赖来 lan:兰岚蓝 lang:郎朗 lao:劳 le:乐 lei:雷磊蕾垒 leng:冷
li:李黎丽莉利立力厉励 lian:连莲廉 liang:梁良亮 liao:廖 lin:林琳麟霖 ling:凌玲灵令龄 liu:刘柳留
long:龙隆 lou:楼娄 lu:卢鲁陆路露禄 lu:吕律绿 luan:栾 lun:伦 luo:罗骆洛 ma:马麻 mai:麦
man:满曼 mao:毛茂 mei:梅美玫媚 meng:孟蒙萌梦 mi:米宓 miao:苗妙 min:闵敏民 ming:明铭鸣
mo:莫墨 mou:牟 mu:穆木慕 na:娜那 nan:南楠 ni:倪妮 nie:聂 ning:宁凝 niu:牛 nong:农
ou:欧 pan:潘盼 pang:庞 pei:裴培佩 peng:彭鹏朋 pi:皮 ping:平萍 pu:蒲朴浦 qi:齐祁戚琪琦奇
qian:钱倩茜千 qiang:强墙 qiao:乔巧 qin:秦琴勤 qing:青庆清晴 qiu:邱秋丘 qu:曲瞿屈
quan:全权泉 ran:冉然 rao:饶 ren:任仁 rong:荣蓉容融 ru:茹如 ruan:阮 rui:瑞睿锐 run:润
sha:沙 shan:单山珊善杉 shang:尚商 shao:邵少绍 shen:沈申深 sheng:盛胜圣升 shi:石史施师时诗世
shu:舒淑书树 shuang:双爽 shui:水 shun:顺 si:司思斯 song:宋松颂 su:苏素肃 sun:孙
tai:太泰 tan:谭谈坦 tang:唐汤棠 tao:陶涛滔桃 teng:滕腾 tian:田天甜 ting:婷亭庭廷
tong:童佟彤桐 tu:涂屠 wan:万婉宛 wang:王汪旺 wei:魏卫韦伟玮维薇威蔚 wen:文温闻雯
weng:翁 wu:吴武伍吾 xi:席习喜熙曦希西 xia:夏霞 xian:冼仙贤娴显 xiang:向项香祥翔湘
xiao:肖萧小晓笑 xie:谢解 xin:辛欣新馨心鑫 xing:邢星兴幸 xiong:熊雄 xiu:秀修绣 xu:徐许胥旭
xuan:宣轩萱 xue:薛雪学 xun:荀迅 ya:亚雅 yan:严颜阎燕艳彦岩妍言 yang:杨阳洋扬
yao:姚尧瑶 ye:叶业 yi:易伊依怡毅逸艺一 yin:殷尹银 ying:英应瑛颖莹盈 yong:雍永勇泳
you:尤游友 yu:于余俞虞宇雨玉钰羽瑜 yuan:袁元远苑媛源 yue:岳越悦月 yun:云芸韵 zang:臧
zeng:曾 zha:查 zhai:翟 zhan:詹湛展 zhang:张章彰 zhao:赵昭朝照 zhe:哲 zhen:甄真珍振 zheng:郑正政峥
zhi:智志芝之 zhong:钟仲忠中 zhou:周舟 zhu:朱祝诸珠竹 zhuang:庄壮 zhuo:卓 zi:紫子梓
zong:宗 zou:邹 zu:祖 zuo:左
"""

PINYIN: dict[str, str] = {}
for _entry in _TABLE.split():
    _py, _chars = _entry.split(":")
    for _c in _chars:
        PINYIN.setdefault(_c, _py)

_LATIN = re.compile(r"[a-z]")


def pinyin_key(name: str | None) -> str:
    """Toneless pinyin without spaces, lower case: '王秀英' and 'Wang Xiuying' both give
    'wangxiuying'. Latin input keeps its letters (tone marks removed)."""
    s = unicodedata.normalize("NFKD", name or "")
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    out = []
    for c in s:
        if c in PINYIN:
            out.append(PINYIN[c])
        elif _LATIN.match(c) or ord(c) > 0x2E80:
            out.append(c)
    return "".join(out)
