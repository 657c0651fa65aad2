"""Shortcodes are found in prose only: Clojure's nested vectors in code are not shortcodes,
and a near-miss such as ``[[Lab x]]`` in prose is refused instead of shown as text."""

from course.mkdocs_hooks import CODE_RE, SHORTCODE_RE


def _found(markdown: str) -> list[str]:
    return [m.group(0) for m in SHORTCODE_RE.finditer(CODE_RE.sub("", markdown))]


def test_code_blocks_and_inline_code_are_not_read_for_shortcodes():
    md = ("See [[lab ch01/availability]].\n\n```clojure\n(for [[k v] m] [[k v]])\n[[k v]]\n```\n\n"
          "~~~edn\n[[a b]]\n~~~\n\nInline `[[x y]]` too.\n")
    assert _found(md) == ["[[lab ch01/availability]]"]


def test_a_near_miss_in_prose_is_found_so_the_build_can_refuse_it():
    assert _found("Open [[Lab ch01/availability]] now.") == ["[[Lab ch01/availability]]"]
