/* ecoinfer: the one prompt builder (see chat.h). */
#include "engine/chat.h"

#include <stdlib.h>
#include <string.h>

int eco_chat_tmpl_load(const eco_gguf *g, const eco_tokenizer *tok, const eco_logger *lg,
                       eco_chat_tmpl **out, eco_error *err) {
  if (!tok || !out) return eco_error_set(err, ECO_EINVAL, "chat template: invalid argument");
  *out = NULL;
  char *text = NULL;
  const eco_gguf_kv *kv = g ? eco_gguf_find(g, "tokenizer.chat_template") : NULL;
  if (kv && kv->type == ECO_GGUF_STRING && !(text = strndup(kv->v.str.ptr, (size_t)kv->v.str.len)))
    return eco_error_set(err, ECO_ENOMEM, "out of memory");
  int rc = eco_chat_tmpl_new(text, out, err);
  free(text);
  if (rc) return rc;
  char bos[64], eos[64];
  eco_chat_opts co;
  eco_chat_opts_vocab(tok, bos, eos, lg, &co);
  if (eco_chat_tmpl_check(*out, &co) == ECO_ENOMEM) {
    eco_chat_tmpl_free(*out);
    *out = NULL;
    return eco_error_set(err, ECO_ENOMEM, "out of memory");
  }
  if (eco_chat_tmpl_warning(*out)[0]) ECO_WARN(lg, "chat", "%s", eco_chat_tmpl_warning(*out));
  return ECO_OK;
}

int eco_chat_prompt(const eco_tokenizer *tok, const eco_prompt_in *in, eco_prompt *out,
                    eco_error *err) {
  if (!tok || !in || !out || (!in->msgs && !in->text) || (in->msgs && !in->tmpl))
    return eco_error_set(err, ECO_EINVAL, "prompt: invalid argument");
  memset(out, 0, sizeof *out);
  eco_sb_init(&out->text);
  bool chat = in->msgs != NULL;
  int rc;
  if (chat) {
    char bos[64], eos[64];
    eco_chat_opts co;
    eco_chat_opts_vocab(tok, bos, eos, in->lg, &co);
    rc = eco_chat_tmpl_apply(in->tmpl, in->msgs, in->n_msgs, true, &co, &out->text, NULL, err);
  } else {
    rc = eco_sb_puts(&out->text, in->text);
  }
  if (!rc && out->text.oom) rc = ECO_ENOMEM;
  if (rc) {
    if (rc == ECO_ENOMEM) eco_error_set(err, rc, "out of memory");
    goto fail;
  }
  /* a token covers at least one byte, special tokens aside */
  size_t cap = out->text.len + 16;
  if (in->max_ids && cap > in->max_ids) cap = in->max_ids;
  out->ids = malloc(cap * sizeof *out->ids);
  if (!out->ids) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  bool add_special = chat ? eco_tokenizer_add_bos(tok) : true;
  rc = eco_tokenizer_encode(tok, eco_sb_str(&out->text), out->text.len, add_special, chat, out->ids,
                            cap, &out->n_ids);
  if (rc == ECO_EOVERFLOW) {
    rc = eco_error_set(err, ECO_ECONTEXT, "the prompt has more than %zu tokens", cap);
    goto fail;
  }
  if (rc) {
    eco_error_set(err, rc, "cannot tokenize the prompt");
    goto fail;
  }
  if (out->n_ids == 0) {
    rc = eco_error_set(err, ECO_EINVAL, "the prompt is empty (no tokens)");
    goto fail;
  }
  return ECO_OK;
fail:
  eco_chat_prompt_free(out);
  return rc;
}

void eco_chat_prompt_free(eco_prompt *p) {
  if (!p) return;
  eco_sb_free(&p->text);
  free(p->ids);
  p->ids = NULL;
  p->n_ids = 0;
}
