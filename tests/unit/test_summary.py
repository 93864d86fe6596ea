"""Summaries: plain text of post HTML, placeholders, safe cutting; reference site excerpts."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.content.markdown import render_markdown
from feedsvc.content.summary import (
    html_to_text,
    is_cjk_language,
    placeholders_for,
    summarize,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "summary"

# Excerpts copied from the reference site (language zh-CN, length 350, placeholders [公式]/[代码]).
# The Markdown in tests/data/summary/ was written so its rendered text starts with each excerpt.
REAL_SITE = {
    # The source wrote every item as "1."; ddp.md reproduces that with escaped "1\." paragraphs.
    "ddp.md": "Quick Start 一个最简单的DDP Pytorch例子! 环境准备 PyTorch(gpu)=1.5,python=3.6 推荐使用官方打好的PyTorch docker,避免乱七八糟的环境问题影响心情。 [代码] 代码 单GPU代码 [代码] 加入DDP的代码 [代码] DDP的基本原理 大白话原理 假如我们有N张显卡, 1. (缓解GIL限制)在DDP模式下,会有N个进程被启动,每个进程在一张卡上加载一个模型,这些模型的参数在数值上是相同的。 1. (RingReduce加速)在模型训练时,各个进程通过一种叫RingReduce的方法与其他进程通讯,交换各自的梯度,从而获得所有进程的梯度; 1. (实际上就是Data Parallelism)各个进程用平均后的梯度更新自己的参数,...",  # noqa: E501
    "spp.md": "SPP (spatial pyramid pooling layer) SPP applies a slightly different strategy in detecting objects of different scales. It replaces the last pooling layer (after the last convolutional layer) with a spatial pyramid pooling layer. The feature maps are spatially divided into m×m bins with m, say, equals 1, 2, and 4 respectively. Then a maximum pool i...",  # noqa: E501
    # explode.md starts with a one-item ordered list, so "1. " comes from list numbering.
    "explode.md": "1. explode hive wiki对于expolde的解释如下: explode() takes in an array (or a map) as an input and outputs the elements of the array (map) as separate rows. UDTFs can be used in the SELECT expression list and as a part of LATERAL VIEW. As an example of using explode() in the SELECT expression list, consider a table named myTable that has a single column (m...",  # noqa: E501
    "softmax.md": "超多分类的Softmax 2014年CVPR两篇超多分类的人脸识别论文:DeepFace和DeepID DeepFace Taigman Y, Yang M, Ranzato M A, et al. Deepface: Closing the gap to humanlevel performance in face verification [C]// CVPR, 2014. 4.4M训练集,训练6层CNN + 4096特征映射 + 4030类Softmax,综合如3D Aligement, model ensembel等技术,在LFW上达到97.35%。 DeepID Sun Y, Wang X, Tang X. Deep learning face representation fro...",  # noqa: E501
    # The cut lands on the space after "。": CJK mode keeps it before "...".
    "rectified_flow.md": "💡 原本随机采样的DDPM模型中,也隐含了一个确定性的采样过程DDIM,它的连续极限也是一个ODE。 细想上述过程,可以发现不管是“DDPM→DDIM”还是“SDE→ODE”,都是从随机采样模型过渡到确定性模型,而如果我们一开始的目标就是ODE,那么该过程未免显得有点“迂回”了。在本文中,笔者尝试给出ODE扩散模型的直接推导,并揭示了它与雅可比行列式、热传导方程等内容的联系。 Rectified Flow 理论推导 微分方程 像GAN这样的生成模型,它本质上是希望找到一个确定性变换,能将从简单分布(如标准正态分布)采样出来的随机变量,变换为特定数据分布的样本。flow模型也是生成模型之一,它的思路是反过来,先找到一个能将数据分布变换简单分布的可逆变换,再求解相应的逆变换来得到一个生成模型。 ...",  # noqa: E501
    # Short posts are shown whole, without "...".
    "receptive_field.md": "如何计算RF 公式一:这个算法从top往下层层迭代直到追溯回input image,从而计算出RF。 [公式] 其中,RF是感受野。RF和RF有点像,N代表 neighbour,指的是第n层的 a feature在n1层的RF,记住N_RF只是一个中间变量,不要和RF混淆。 stride是步长,ksize是卷积核大小。",  # noqa: E501
    "receptive_field_short.md": "感受野 感受野(Receptive Field)是卷积神经网络每一层输出的特征图上的像素点在输入图片上映射的区域大小。不要和RF混淆。 stride是步长,ksize是卷积核大小。",  # noqa: E501
    # Made up: a display formula, a code block and two inline formulas, in reading order.
    "softmax_loss.md": "推导 回顾一下二分类下的Softmax后验概率,即: [公式] 用 PyTorch 写出来只有一行: [代码] 其中 [公式] 是第 [公式] 类的权重。",  # noqa: E501
}


def zh_summary(html_text: str, length: int = 350) -> str:
    return summarize(html_text, length=length, formula="[公式]", code="[代码]", cjk=True)


@pytest.mark.parametrize("name", sorted(REAL_SITE))
def test_reference_site_excerpts(name: str) -> None:
    expected = REAL_SITE[name]
    body = expected.removesuffix("...")
    assert len(body) == 350 or not expected.endswith("...")  # the excerpts really are 350 + ...
    rendered = render_markdown((DATA / name).read_text(encoding="utf-8"))
    assert zh_summary(rendered) == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-CN", ("[公式]", "[代码]")),
        ("zh", ("[公式]", "[代码]")),
        ("ZH_tw", ("[公式]", "[代码]")),
        ("zh-Hant-HK", ("[公式]", "[代码]")),
        ("ja", ("[formula]", "[code]")),
        ("en-US", ("[formula]", "[code]")),
        ("", ("[formula]", "[code]")),
        (None, ("[formula]", "[code]")),
    ],
)
def test_placeholders_for(language: str | None, expected: tuple[str, str]) -> None:
    assert placeholders_for(language) == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh-CN", True), ("ja-JP", True), ("ko", True), ("KO_kr", True), ("en", False),
     ("fr-CA", False), ("zha", False), ("", False), (None, False)],
)  # fmt: skip
def test_is_cjk_language(language: str | None, expected: bool) -> None:
    assert is_cjk_language(language) is expected


TEXT_CASES = {
    "blocks joined by one space": (
        "<h1>T</h1><p>a\n  b</p><ul><li>x</li><li>y</li></ul>",
        "T a b x y",
    ),
    "inline elements do not add spaces": ("<p>a<em>b</em><strong>c</strong></p>", "abc"),
    "entities decoded": ("<p>&lt;a&gt; &amp; &#20013;&nbsp;&quot;q&quot;</p>", '<a> & 中 "q"'),
    "ordered list numbered": ("<ol><li>one</li><li>two</li></ol>", "1. one 2. two"),
    "ordered list start honoured": ('<ol start="3"><li>c</li><li>d</li></ol>', "3. c 4. d"),
    "nested lists numbered per list": (
        "<ol><li>a<ul><li>u</li></ul></li><li>b</li></ol>",
        "1. a u 2. b",
    ),
    "inline math": ('<p>设<span class="math inline">\\(x\\)</span>为</p>', "设[F]为"),
    "display math": (
        '<p>即:</p><div class="math display">\\[x\\]</div><p>显然</p>',
        "即: [F] 显然",
    ),
    "nested markup inside math": (
        '<span class="math"><span>a</span><span>b</span></span>c',
        "[F]c",
    ),
    "mathml element": ("<p>x<math><mi>y</mi></math></p>", "x[F]"),
    "mathml with its tex annotation": (
        '<p>即:</p><math display="block"><semantics><mi>x</mi>'
        '<annotation encoding="application/x-tex">x</annotation></semantics></math><p>显然</p>',
        "即: [F] 显然",
    ),
    "tex left as code is a formula": (
        '<p>a <code class="math-tex">$\\frac{$</code> b</p>',
        "a [F] b",
    ),
    "code block": ("<p>a</p><pre><code>x = 1</code></pre><p>b</p>", "a [C] b"),
    "codehilite block is one placeholder": (
        '<div class="highlight"><pre><span></span><code>x</code></pre></div>',
        "[C]",
    ),
    "inline code keeps its text": ("<p>call <code>f(x)</code> now</p>", "call f(x) now"),
    "image and alt dropped": ('<p>a<img src="p.png" alt="ALT">b</p>', "ab"),
    "link text kept": ('<p><a href="https://x.org/">link</a></p>', "link"),
    "script and style contents hidden": (
        "<p>a</p><script>evil()</script><style>p{}</style>b",
        "a b",
    ),
    "table cells": (
        "<table><tr><th>h1</th><th>h2</th></tr><tr><td>1</td><td>2</td></tr></table>",
        "h1 h2 1 2",
    ),
    "blockquote": ("<blockquote><p>q</p></blockquote><p>r</p>", "q r"),
    "br separates": ("a<br>b<br/>c", "a b c"),
    "footnote marker and section dropped": (
        '<p>x<sup id="fnref:1"><a class="footnote-ref" href="#fn:1">1</a></sup> y</p>'
        '<div class="footnote"><hr><ol><li id="fn:1"><p>note</p></li></ol></div>',
        "x y",
    ),
    "unclosed tags tolerated": ("<p>a<div>b", "a b"),
    "control characters removed": ("<p>a\x00b&#x1;c\x85d</p>", "abcd"),
    "empty": ("", ""),
}


@pytest.mark.parametrize("name", sorted(TEXT_CASES))
def test_html_to_text(name: str) -> None:
    source, expected = TEXT_CASES[name]
    assert html_to_text(source, "[F]", "[C]") == expected


def test_rendered_markdown_to_text() -> None:
    md = (
        "# Title\n\nSee[^n] ![pic](p.png) [site](https://x.org/).\n\n"
        "1. first\n2. second\n\n```python\nprint(1)\n```\n\n$$a_1$$\n\n[^n]: gone\n"
    )
    text = html_to_text(render_markdown(md), "[F]", "[C]")
    assert text == "Title See site. 1. first 2. second [C] [F]"


WORD = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"
CUT_CASES = {
    # (text, length, cjk) -> expected
    "short text whole": ("abc", 3, False, "abc"),
    "cut at word boundary": (WORD, 20, False, "lorem ipsum dolor..."),
    "cut exactly before a space": (WORD, 17, False, "lorem ipsum dolor..."),
    "no space in the last 30% cuts mid-word": ("a " + "b" * 40, 20, False, "a " + "b" * 18 + "..."),
    "trailing comma dropped": ("one two, three four", 9, False, "one two..."),
    "cjk cuts mid-word": (WORD, 20, True, "lorem ipsum dolor si..."),
    "cjk keeps a trailing space": (WORD, 18, True, "lorem ipsum dolor ..."),
    "zero length": ("abc", 0, True, "..."),
    "emoji zwj sequence not split": ("ab👩‍👩‍👧xyz", 4, True, "ab..."),
    "flag not split": ("ab🇨🇳cd", 3, True, "ab..."),
    "flag fits exactly": ("ab🇨🇳cd", 4, True, "ab🇨🇳..."),
    "combining accent kept with base": ("abe\u0301cd", 3, True, "ab..."),
    "astral char counts as one": ("𝑝𝑝𝑝𝑝", 2, True, "𝑝𝑝..."),
}


@pytest.mark.parametrize("name", sorted(CUT_CASES))
def test_summarize_cuts(name: str) -> None:
    text, length, cjk, expected = CUT_CASES[name]
    assert summarize(f"<p>{html.escape(text)}</p>", length=length, cjk=cjk) == expected


def test_cut_never_splits_an_entity_or_tag() -> None:
    source = "<p>ab&amp;cd<em>efgh</em></p>"
    assert summarize(source, length=3, cjk=True) == "ab&..."
    assert summarize(source, length=6, cjk=True) == "ab&cde..."


def test_negative_length_rejected() -> None:
    with pytest.raises(ValueError, match="length"):
        summarize("<p>x</p>", length=-1)


# Property tests -------------------------------------------------------------------------------

# No "[" so text can never spell a placeholder by itself.
PLAIN = st.text(st.characters(blacklist_characters="[", codec="utf-8"), max_size=40)
BLOCK = st.one_of(
    st.tuples(st.just("p"), PLAIN),
    st.tuples(st.just("math"), PLAIN),
    st.tuples(st.just("code"), PLAIN),
)


def to_html(blocks: list[tuple[str, str]]) -> str:
    wrap = {
        "p": "<p>{}</p>",
        "math": '<span class="math inline">{}</span>',
        "code": "<pre><code>{}</code></pre>",
    }
    return "".join(wrap[kind].format(html.escape(text)) for kind, text in blocks)


def grapheme_boundaries(text: str) -> set[int]:
    return {m.end() for m in regex.finditer(r"\X", text)} | {0}


@given(st.lists(BLOCK, max_size=8), st.integers(0, 60), st.booleans())
def test_summary_is_a_bounded_grapheme_prefix(blocks, length, cjk) -> None:
    source = to_html(blocks)
    full = html_to_text(source, "[F]", "[C]")
    result = summarize(source, length=length, formula="[F]", code="[C]", cjk=cjk)
    body = result.removesuffix("...") if result != full else result
    assert len(body) <= length
    assert full.startswith(body)
    assert len(body) in grapheme_boundaries(full)
    assert (result == full) == (len(full) <= length)
    assert result == summarize(source, length=length, formula="[F]", code="[C]", cjk=cjk)


@given(st.lists(BLOCK, max_size=8))
def test_placeholders_present_iff_formula_or_code(blocks) -> None:
    text = html_to_text(to_html(blocks), "[F]", "[C]")
    assert ("[F]" in text) == any(kind == "math" for kind, _ in blocks)
    assert ("[C]" in text) == any(kind == "code" for kind, _ in blocks)
    assert text == " ".join(text.split())


# Every code point, lone surrogates included.
ANY_TEXT = st.text(st.characters(blacklist_categories=()))


@given(ANY_TEXT, st.integers(0, 400), st.booleans())
def test_any_input_is_summarised(source: str, length: int, cjk: bool) -> None:
    result = summarize(source, length=length, cjk=cjk)
    assert len(result.removesuffix("...")) <= length
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in result)
