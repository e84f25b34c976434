"""The style-target cache: least recently used out first, bounded by bytes."""
import torch

from nst_core.cache import TargetCache


def grams(kib: int) -> dict:
    return {"relu1_1": torch.zeros(kib * 256)}  # float32: 1 KiB per 256 values


def test_hit_miss_and_byte_accounting():
    cache = TargetCache(max_bytes=10 * 1024)
    assert cache.get("a") is None
    cache.put("a", grams(4))
    assert cache.get("a")["relu1_1"].numel() == 1024 and cache.nbytes == 4 * 1024 and len(cache) == 1
    cache.put("a", grams(2))  # replacing an entry counts it once
    assert cache.nbytes == 2 * 1024 and len(cache) == 1


def test_least_recently_used_is_evicted_first():
    cache = TargetCache(max_bytes=10 * 1024)
    for key in "abc":
        cache.put(key, grams(3))
    cache.get("a")  # now b is the oldest
    cache.put("d", grams(3))
    assert cache.get("b") is None and all(cache.get(k) is not None for k in "acd")
    assert cache.nbytes == 9 * 1024


def test_an_entry_larger_than_the_cache_is_not_kept_and_evicts_nothing():
    cache = TargetCache(max_bytes=4 * 1024)
    cache.put("small", grams(2))
    cache.put("huge", grams(8))
    assert cache.get("huge") is None and cache.get("small") is not None
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0
