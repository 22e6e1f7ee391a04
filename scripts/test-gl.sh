#!/usr/bin/env bash
# The second adapter: a representative subset of the suite on wgpu's OpenGL backend
# over Mesa's llvmpipe (WGPU_BACKEND_TYPE=OpenGL). It has no subgroups and 16 storage
# buffers per shader stage, so it runs the kernels a GPU takes (workgroup-memory
# scans, the workgroup one-pass selection) through another shader translation
# (naga's GLSL): the results must be the same bits as on lavapipe. .ci/run runs it
# after the whole suite; the subset keeps it to a few minutes on 2 cores.
#   bash scripts/test-gl.sh [pytest args...]      e.g.  bash scripts/test-gl.sh -x
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$HERE/setup.sh"
. "$HERE/env.sh"
cd "$ROOT"
export WGPU_BACKEND_TYPE=OpenGL
"$VENV/bin/python" -c 'import wgpu_tensor as wt; i = wt.device_info(); print("[test-gl] adapter:", i["name"], "(%s, %s)" % (i["backend"], i["type"]))' \
    || echo "[test-gl] could not open an OpenGL adapter (the tests will say why)"
# Whole files: casts and float16 bits, selection, fusion, masking, the tensor basics,
# topk/unique, arithmetic.
# From the others, the cases where adapters differ: special values, exact bits,
# wrapping, long rows, windows, both scan paths. Not here: the giant-size tests
# (-m "not slow") and the event-loop timing test (not about the adapter).
SUBSET=(tests/test_portability.py tests/test_select.py tests/test_fused.py tests/test_masking.py
        tests/test_tensor.py tests/test_topk_unique.py tests/test_arith.py)
pick() { local f="$1"; shift; for t in "$@"; do SUBSET+=("tests/$f::$t"); done; }
pick test_bad_input.py test_cast_and_clone_of_views
pick test_sort.py test_sort_1d test_sort_special_floats test_kthvalue test_isin_special_floats
pick test_math.py test_float_unary_special_values test_exact_unary_keeps_dtype_bit_for_bit \
    test_exact_binary_bit_for_bit test_round_half_to_even_and_sign_of_zero_and_nan \
    test_float_remainder_fmod_floordiv_are_exact_over_wide_ranges test_division_edge_cases \
    test_shifts_follow_pytorch_past_the_width test_nan_to_num test_maximum_minimum_nan_and_promotion
pick test_reduce_more.py test_max_min_nan_inf test_arg_edge_sizes_and_long_rows \
    test_prod_wraps_long_rows_and_specials test_var_std_edges \
    test_logsumexp_is_stable_and_handles_infinities test_norm_specials_and_long_rows test_small_binding_windows
pick test_scan.py test_cumsum_special_floats test_cumsum_dtype_argument_and_float16_accumulation \
    test_cumsum_int_wraps test_cumprod_transposed_zeros_and_special test_cummax_ties_nan_and_extremes \
    test_cumsum_three_levels test_cumsum_long_row
pick test_linalg.py test_matmul_2d_sizes_off_the_tile test_matmul_float16_accumulates_in_f32 \
    test_matmul_int32_exact test_matmul_windows_split_batches_and_row_bands \
    test_softmax_nan_and_inf_rows_as_pytorch test_softmax_dtypes test_softmax_subgroup_and_workgroup_memory_paths
exec "$VENV/bin/python" -m pytest -q -m "not slow" \
    --deselect tests/test_select.py::test_masked_select_async_does_not_block_the_event_loop "${SUBSET[@]}" "$@"
