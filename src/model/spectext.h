/* spectext: a model spec (moe_spec_t) as one line of text, so that a record carries everything
 * needed to rebuild its model (results/SCHEMA.md, attribute `model_spec`) and a model trained
 * elsewhere (src/tools/moex_torch.py) can say what it is. Layers are separated by ';', each a
 * kind, ':', then comma-separated key=value fields:
 *   moe:d_in=2,d_out=2,E=3,K=1,l=2,m=16,router=linear,router_width=0,surrogate=switch,shared=0
 *   dense:d_in=2,d_out=2,l=2,m=32
 * (l affine layers of width m per expert or dense net; router linear, affine or mlp, router_width the mlp
 * router's hidden width; surrogate switch or paper; shared 0 or 1). An MoE layer with
 * auto-encoder experts (moe.h) adds, all six together and only then:
 *   ,enc=2,enc_layers=1,enc_width=0,enc_shared=0,decoder=1,recon_weight=0.10000000000000001
 * (encoder dimension k >= 1; encoder and decoder layers and width; one encoder for all experts
 * 0 or 1; decoders 0 or 1; the reconstruction weight, printed %.17g so it reads back exactly;
 * it changes the training loss, not what the model computes, but a record's model is only
 * rebuilt from the text with it). The initialisation scheme is not part of the text: it does
 * not change what a model computes. */
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
