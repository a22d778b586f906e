"""The command line's edges, as a newcomer hits them: each is one line and exit status 2, before any work."""

import pytest

from study.cli import checks, main


def _said(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_no_arguments_print_the_help_as_a_usage_error(capsys):
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("usage: regimes")


@pytest.mark.parametrize("argv,line", [
    (["select", "studies/x", "--desnity", "0.1"], "regimes select: error: unknown option --desnity (did you mean "
                                                  "--density?)"),
    (["report", "studies/x", "--margn=1"], "regimes report: error: unknown option --margn (did you mean --margin?)"),
    (["status", "studies/x", "--zzz"], "regimes status: error: unknown option --zzz (see `regimes status --help`)"),
])
def test_a_misspelt_flag_names_the_closest_one_before_argparse_asks_for_the_missing_one(argv, line, capsys):
    assert main(argv) == 2
    assert _said(capsys).strip() == line


def test_a_misspelt_command_names_the_closest_and_prefixes_of_flags_still_work(capsys):
    assert main(["statu", "studies/x"]) == 2
    assert _said(capsys).strip().endswith("; did you mean status?")
    assert checks.unknown_option(__import__("study.cli").cli.build_parser(), ["select", "s", "--dens", "0.1"]) is None


def test_a_file_where_a_study_folder_goes_and_a_missing_study_a_config_makes(tmp_path, capsys):
    note = tmp_path / "notes.txt"
    note.write_text("x")
    assert main(["select", str(note), "--density", "0.1"]) == 2
    assert _said(capsys).strip() == (f"regimes: error: {note} is a file, not a study folder; give the study directory "
                                     "(storage/name), e.g. studies/demo")
    assert main(["recommend-rho", str(tmp_path / "demo_sam"), "--density", "0.04"]) == 2
    assert _said(capsys).strip().endswith("no such directory; give the study directory (storage/name); "
                                          "`regimes run configs/demo_sam.yaml` makes it")
    assert main(["ls", str(note)]) == 2
    assert "is a file, not a storage root" in _said(capsys)


def test_a_positive_mc_threshold_is_explained_before_the_answer_it_changes(capsys):
    assert main(["select", "studies/x", "--density", "0.1", "--mc-threshold", "0.1"]) == 2  # no such study
    said = _said(capsys).strip().splitlines()
    assert said[0].startswith("note: --mc-threshold 0.1 is positive: mc is negative where the copies have an error "
                              "barrier between them and about 0 where they have none")
    assert checks.mc_threshold_note(-0.2) is None and checks.mc_threshold_note(0.0) is None


def test_report_out_never_overwrites_a_file_that_is_not_this_studys_report(tmp_path):
    notes = tmp_path / "notes.html"
    notes.write_text("<html>my notes</html>")
    with pytest.raises(checks.ConfigError, match="exists and is not a report of study 'demo'; nothing was written"):
        checks.check_report_out(notes, "demo", given=True)
    assert notes.read_text() == "<html>my notes</html>"
    ours = tmp_path / "r.html"
    ours.write_text('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><meta name="regimes-study" content="demo">')
    checks.check_report_out(ours, "demo", given=True)  # this study's report: rewritten
    with pytest.raises(checks.ConfigError):
        checks.check_report_out(ours, "other", given=True)
    checks.check_report_out(notes, "demo", given=False)  # the study's own report.html: always its own


def test_png_without_its_exporter_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(checks.ConfigError, match=r"--png .*: writing PNGs needs the kaleido package \(pip install "
                                                 r"kaleido\)"):
        checks.check_png_exporter(str(tmp_path / "png"))
    assert not (tmp_path / "png").exists()
    checks.check_png_exporter(None)
