/* spectext: a model spec (moe_spec_t) as one line of text, so that a record carries everything
 * needed to rebuild its model (results/SCHEMA.md, attribute `model_spec`) and a model trained
 * elsewhere (src/tools/moex_torch.py) can say what it is. Layers are separated by ';', each a
 * kind, ':', then comma-separated key=value fields:
 *   moe:d_in=2,d_out=2,E=3,K=1,l=2,m=16,router=linear,router_width=0,surrogate=switch,shared=0
 *   dense:d_in=2,d_out=2,l=2,m=32
 * (l affine layers of width m per expert or dense net; router linear or mlp, router_width the mlp
 * router's hidden width; surrogate switch or paper; shared 0 or 1). The initialisation scheme is
 * not part of the text: it does not change what a model computes. */
#ifndef MOEX_SPECTEXT_H
#define MOEX_SPECTEXT_H

#include <stddef.h>

#include "model/moe.h"

/* Writes the text of spec into buf (n bytes). MOEX_EINVAL if it does not fit or spec is
 * invalid. */
int spectext_format(const moe_spec_t *spec, char *buf, size_t n);

/* Parses text into *spec (every field required, each once, no unknown ones) and validates it
 * (moe_spec_validate). MOEX_EINVAL with a one-line message naming the bad layer and field. */
int spectext_parse(const char *text, moe_spec_t *spec);

#endif
