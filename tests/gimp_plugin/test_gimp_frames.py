"""Filters ▸ Animation ▸ Neural Style Transfer (frames) inside real GIMP 3.0 (the trixie root), against the
real server here: a 3-layer animation becomes a new image whose layers keep the frames' names and tags,
the user's image stays as it was, and a bad image or an unreachable server is a message, not a change."""
from gimp_root import install_plugin, run_case_script
from tests.helpers import free_address

NAMES = ["Frame 1 (80ms) (replace)", "Frame 2 (120ms) (combine)", "Frame 3 (200ms)"]


def run_frames(work, runs):
    return run_case_script(work, "gimp_frames_case.py", runs)[0]


def test_frames_entry_makes_a_new_image_with_the_frames_names_and_tags(gimp_work, server):
    install_plugin(gimp_work, server.address)
    style = f"{gimp_work[1]}/stripes.png"
    small = {"preset": "draft", "max-size": 32, "steps": 4}
    ok, group, unreachable = run_frames(gimp_work, [
        {"style_file": style, "arguments": small},
        {"style_file": style, "arguments": small, "group": True},
        {"style_file": style, "arguments": {**small, "server": free_address(), "auto-start": False}},
    ])
    assert ok["status"] == "success", ok
    new = ok["new"]
    # GIMP lists the top layer first: the last frame on top, the first at the bottom, names and tags kept.
    assert [layer["name"] for layer in new["layers"]] == NAMES[::-1]
    assert new["size"] == [48, 40] and all(layer["size"] == [48, 40] for layer in new["layers"])
    assert new["file"] == "animation-stylized.xcf"
    assert len(set(new["pixels"])) == 3  # three frames, each stylized
    assert ok["unchanged"] and not ok["dirty"] and ok["new_images"] == 1

    assert group["status"] == "execution-error" and "group" in group["message"]
    assert unreachable["status"] == "execution-error" and "No style server answers" in unreachable["message"]
    for report in (group, unreachable):
        assert report["unchanged"] and not report["dirty"] and report["new_images"] == 0
