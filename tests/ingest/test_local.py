"""A local folder as pages: citation URLs, size cap, hidden dirs, HTML cleaning."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest import local
from ingest.local import iter_files, read_folder, read_page, url_for


@pytest.mark.parametrize(
    ("rel", "url"),
    [
        ("a/b.md", "https://docs.example.com/a/b/"),
        ("a/_index.md", "https://docs.example.com/a/"),
        ("a/index.md", "https://docs.example.com/a/"),
        ("_index.md", "https://docs.example.com/"),
        ("install.markdown", "https://docs.example.com/install/"),
        ("guide/index.html", "https://docs.example.com/guide/"),
        ("guide/page.html", "https://docs.example.com/guide/page.html"),
        ("notes.txt", "https://docs.example.com/notes/"),
    ],
)
def test_urls_under_a_base_url(tmp_path: Path, rel: str, url: str) -> None:
    assert url_for(tmp_path / rel, tmp_path, "https://docs.example.com") == url
    assert url_for(tmp_path / rel, tmp_path, "https://docs.example.com/") == url


def test_without_a_base_url_the_path_under_the_folder_name(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    assert url_for(root / "a" / "b.md", root) == "docs/a/b.md"


def test_read_folder_reads_markdown_text_and_html(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("---\ntitle: Alpha\n---\n## One\n\nalpha text\n")
    (root / "notes.txt").write_text("Release notes\n\nVersion 2.\n")
    (root / "sub" / "page.html").write_text(
        "<html><head><title>Beta page</title></head><body><nav>menu menu</nav>"
        "<main><h1>Beta</h1><h2 id='usage'>Usage</h2><p>Use beta like this, carefully and well.</p></main>"
        "<footer>copyright</footer></body></html>"
    )
    pages = {p.url: p for p in read_folder(root, base_url="https://docs.example.com/")}
    assert set(pages) == {
        "https://docs.example.com/a/",
        "https://docs.example.com/notes/",
        "https://docs.example.com/sub/page.html",
    }
    html_page = pages["https://docs.example.com/sub/page.html"]
    assert "usage" in [s.anchor for s in html_page.sections]
    assert (
        "menu" not in html_page.text and "copyright" not in html_page.text
    )  # cleaned like the web
    assert pages["https://docs.example.com/a/"].source == str((root / "a.md").resolve())


def test_html_canonical_link_is_the_citation_url(tmp_path: Path) -> None:
    (tmp_path / "p.html").write_text(
        '<html><head><link rel="canonical" href="https://www.example.org/docs/p/"><title>P</title></head>'
        "<body><main><h2 id='x'>X</h2><p>Some real content for the page here.</p></main></body></html>"
    )
    [page] = read_folder(tmp_path)
    assert page.url == "https://www.example.org/docs/p/"


def test_hidden_dirs_unsupported_files_and_excludes_are_skipped(tmp_path: Path) -> None:
    for rel in (".git/x.md", "ok.md", "drafts/d.md", "img.png", ".hidden.md", "sub/.cache/c.md"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# T\n\ntext\n")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_files(tmp_path, exclude=("drafts",))]
    assert found == ["ok.md"]


def test_files_over_the_size_cap_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "MAX_FILE_BYTES", 100)
    (tmp_path / "small.md").write_text("# Small\n\nfits\n")
    (tmp_path / "big.md").write_text("# Big\n\n" + "word " * 100)
    assert [p.title for p in read_folder(tmp_path)] == ["Small"]
    assert read_page(tmp_path / "big.md", tmp_path) is None


def test_empty_files_give_no_page(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_text("---\ntitle: Nothing\n---\n")
    assert read_folder(tmp_path) == []


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a folder"):
        read_folder(tmp_path / "absent")


def test_the_page_language_is_detected(tmp_path: Path) -> None:
    (tmp_path / "ko.md").write_text(
        "---\ntitle: 설치\n---\n## 설치 방법\n\n패키지를 설치하고 서버를 시작합니다.\n"
    )
    (tmp_path / "en.md").write_text("---\ntitle: Install\n---\n## How\n\nInstall the package.\n")
    langs = {p.title: p.language for p in read_folder(tmp_path)}
    assert langs == {"설치": "ko", "Install": "en"}


def test_a_docbotignore_file_keeps_pages_out(tmp_path: Path) -> None:
    from ingest.local import read_folder

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\nHow to use it.\n")
    (tmp_path / "docs" / "benchmarks.md").write_text("# Benchmarks\n\nNumbers.\n")
    (tmp_path / "docs" / "drafts").mkdir()
    (tmp_path / "docs" / "drafts" / "wip.md").write_text("# WIP\n\nNot yet.\n")
    (tmp_path / "docs" / ".docbotignore").write_text("# not user docs\nbenchmarks.md\ndrafts/\n")
    assert [p.title for p in read_folder(tmp_path / "docs")] == ["Guide"]
