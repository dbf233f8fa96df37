"""Bad inputs to `ecgbench.encode.encode` and the encodings: each ends in one exact, clear error (type, message,
`DataError.reason`) or in a correct result. The rule for the layout: time is the last axis, `(..., leads, T)`;
an array whose last axis holds at most `n_leads` (12) values while the axis before it is longer is an ECG the
wrong way round and is refused (not transposed silently: the caller decides, `n_leads=None`)."""
import re

import numpy as np
import pytest
import torch

from ecgbench.core import DataError
from ecgbench.encode import encode, gasf, recurrence_plot

torch.set_num_threads(1)
RNG = np.random.default_rng(0)
REC = RNG.normal(size=(1000, 12))                 # one record as wfdb reads it: (T, leads)
BIG = RNG.normal(size=(2, 200)) * 1e39            # finite in float64, beyond float32

# (id, call, exception type, exact message pattern, DataError reason or None)
CASES = [
    ("transposed-record", lambda: encode(REC, "gasf", image_size=32), DataError,
     r"^'x' has shape \(1000, 12\): its last axis \(12\) looks like 12 or fewer leads and axis -2 \(1000\) like time, "
     r"but time must be the last axis, \(\.\.\., leads, T\) -> pass x\.swapaxes\(-1, -2\) .*use record\.T\), "
     r"or n_leads=None to encode 1000 series of 12 samples on purpose$", "transposed"),
    ("transposed-batch", lambda: encode(REC[None].repeat(3, 0), "mtf", image_size=32), DataError,
     r"^'x' has shape \(3, 1000, 12\): its last axis \(12\)", "transposed"),
    ("transposed-8-leads", lambda: encode(REC[:, :8], "rp"), DataError, r"^'x' has shape \(1000, 8\): its last axis \(8\)", "transposed"),
    ("empty-time-axis", lambda: encode(np.empty((12, 0)), "gasf"), DataError,
     r"^'x' has shape \(12, 0\): its time axis \(the last\) is empty, nothing to encode -> pass at least one sample", "empty"),
    ("empty-list", lambda: encode([], "rp"), DataError, r"^'x' has shape \(0,\): its time axis \(the last\) is empty", "empty"),
    ("string-array", lambda: encode(np.array(["0.1", "0.2", "0.3"]), "gasf"), TypeError,
     r"^'x' must hold real numbers \(the signal\), got a ndarray of dtype <U3 such as '0\.1' -> pass the samples as numbers", None),
    ("mixed-list", lambda: encode([0.5, "lead II"], "mtf"), TypeError,
     r"^'x' must hold real numbers \(the signal\), got a list of dtype <U32 such as '0\.5'", None),
    ("object-array", lambda: encode(np.array([1.0, {"mV": 2}], dtype=object), "gadf"), TypeError,
     r"^'x' must hold real numbers \(the signal\), got a ndarray of dtype object such as \{'mV': 2\}", None),
    ("ragged-list", lambda: encode([[1.0, 2.0, 3.0], [4.0, 5.0]], "gasf"), DataError,
     r"^'x' is ragged: its series have different lengths \(.*\) -> pad or crop every series to one length T first$", "ragged"),
    ("scalar", lambda: encode(3.0, "gasf"), ValueError, r"^'x' must be a series shaped \(\.\.\., T\), got a scalar$", None),
    ("complex", lambda: encode(np.ones(20) * 1j, "gasf"), ValueError, r"^'x' must be real-valued, got dtype torch\.complex128$", None),
    ("nan", lambda: encode(np.r_[np.ones(10), np.nan], "gasf", image_size=5), DataError,
     r"^series at batch index \(\) contains NaN or inf \(1 bad series of 1\) -> repair or drop", "nonfinite"),
    ("rp-1e39-float32", lambda: encode(BIG, "rp", image_size=50), DataError,
     r"^recurrence_plot: values up to \d\.\d+e\+39 give distances up to \d\.\d+e\+39, beyond float32's range "
     r"\(3\.4e\+38\): the image would be inf/NaN -> rescale the series .*, or pass dtype=torch\.float64$", "overflow"),
    ("rp-1e20-dimension-3", lambda: recurrence_plot(BIG[:, :50] / 1e19, dimension=3), DataError,
     r"^recurrence_plot: values up to .* give squared distances up to .*beyond float32's range", "overflow"),
    ("non-physical-1e200", lambda: encode(BIG * 1e161, "gasf"), DataError,
     r"^values up to \d\.\d+e\+200 are no physical signal \(limit 1e\+150\) and overflow the float64 arithmetic", "overflow"),
    ("unknown-parameter", lambda: encode(np.ones(50), "gasf", n_bins=4), TypeError,
     r"^encode\(method='gasf'\) has no parameter 'n_bins'; its parameters: image_size, sample_range, overlapping, dtype, chunk_size, out$", None),
    ("unknown-method", lambda: encode(np.ones(50), "cwt"), ValueError, r"^unknown method 'cwt': expected one of gasf, gadf, mtf, rp$", None),
    ("method-not-a-string", lambda: encode(np.ones(50), None), ValueError, r"^unknown method None", None),
    ("image-size-above-T", lambda: gasf(np.ones(50), 224), ValueError, r"^'image_size'=224 must be in \[1, n_timestamps=50\]$", None),
]


@pytest.mark.parametrize("call, exc, pattern, reason", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_error(call, exc, pattern, reason):
    with pytest.raises(exc) as e:
        call()
    assert type(e.value) is exc, type(e.value)                       # exactly: a ValueError case is no DataError
    assert re.search(pattern, str(e.value)), str(e.value)
    if reason is not None: assert e.value.reason == reason


def test_distinct_kinds():
    assert len({c[0] for c in CASES}) == len(CASES) >= 12


# Inputs near the bad ones that are fine: each gives the correct result.
def test_the_fix_the_message_gives_works():
    assert encode(REC.T, "gasf", image_size=32).shape == (12, 32, 32)
    assert encode(REC, "gasf", image_size=12, n_leads=None).shape == (1000, 12, 12)     # on purpose


def test_rp_of_huge_values_in_float64_is_exact_not_nan():
    rp = encode(BIG, "rp", image_size=50, dtype=torch.float64)
    assert torch.isfinite(rp).all()
    assert torch.allclose(rp / 1e39, encode(BIG / 1e39, "rp", image_size=50, dtype=torch.float64))
    thresholded = encode(BIG, "rp", image_size=50, threshold="point")                    # float64 distances inside
    assert torch.equal(thresholded, encode(BIG / 1e39, "rp", image_size=50, threshold="point"))


@pytest.mark.parametrize("method", ["gasf", "gadf", "mtf"])
def test_scale_free_encodings_of_huge_values_are_correct(method):
    assert torch.allclose(encode(BIG, method, image_size=20), encode(BIG / 1e39, method, image_size=20), atol=1e-5)


@pytest.mark.parametrize("method", ["gasf", "gadf", "mtf", "rp"])
def test_zero_records_give_an_empty_stack(method):
    assert encode(np.zeros((0, 12, 100)), method, image_size=10).shape == (0, 12, 10, 10)
