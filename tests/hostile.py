"""Hostile strings used as category, persona and segment names in the report's tests."""

HOSTILE = (
    "<script>alert(1)</script>",
    "</script><img src=x onerror=\"window.__xss=1\">",
    "<!-- x --><b onmouseover=alert(2)>bold</b>",
    "Tom & Jerry \u2028line\u2029sep 'quote\" {a|rich} [bold]",
)
