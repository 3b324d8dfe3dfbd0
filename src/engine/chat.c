/* ecoinfer: chat templates (skeleton; see chat.h). */
#include "engine/chat.h"

#include <stdlib.h>

const char *eco_chat_family_name(eco_chat_family f) {
  (void)f;
  return "chatml";
}

int eco_chat_detect(const char *tmpl, eco_chat_family *family, char **default_system) {
  (void)tmpl;
  *family = ECO_CHAT_CHATML;
  if (default_system) *default_system = NULL;
  return ECO_ENOTIMPL;
}

int eco_chat_apply(const char *chat_template, const eco_chat_msg *msgs, size_t n,
                   bool add_generation_prompt, eco_strbuf *out, eco_chat_family *family_out,
                   const eco_logger *lg, eco_error *err) {
  (void)chat_template;
  (void)msgs;
  (void)n;
  (void)add_generation_prompt;
  (void)out;
  (void)lg;
  if (family_out) *family_out = ECO_CHAT_CHATML;
  return eco_error_set(err, ECO_ENOTIMPL, "chat: templates not implemented yet");
}
