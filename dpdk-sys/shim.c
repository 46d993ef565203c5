/* Hand-written part of the shim: what bindgen's wrap_static_fns cannot
 * cover. The static inline wrappers are generated next to this file in
 * OUT_DIR and compiled together with it. */
#include "wrapper.h"

int plat_rte_errno(void)
{
	return rte_errno;
}

/* src/lib.rs restates this bit (clang's macro fallback loses bit 63):
 * fail the build if DPDK ever moves it. */
_Static_assert(RTE_ETH_RSS_L3_SRC_ONLY == (1ULL << 63),
	       "RTE_ETH_RSS_L3_SRC_ONLY moved: update dpdk-sys/src/lib.rs");
