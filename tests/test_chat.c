/* Chat template tests: SmolLM2's template (from its GGUF and from the
 * llama.cpp reference JSON) renders exactly like llama_chat_apply_template
 * and tokenizes to the reference chatml_text ids; the other families render
 * the conversation of llama.cpp's test-chat-template; unknown templates fall
 * back to ChatML with a warning. */
#include "testutil.h"

#include "engine/chat.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"

#include <jansson.h>
#include <unistd.h>

static const eco_chat_msg k_conv[] = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
};
#define N_CONV (sizeof k_conv / sizeof k_conv[0])

static char *render(const char *tmpl, const eco_chat_msg *m, size_t n, bool gen,
                    eco_chat_family *f) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_error err = {0};
  eco_logger quiet;
  eco_log_init(&quiet);
  quiet.level = ECO_LOG_OFF;
  assert_int_equal(eco_chat_apply(tmpl, m, n, gen, &sb, f, &quiet, &err), 0);
  char *s = strdup(eco_sb_str(&sb));
  eco_sb_free(&sb);
  return s;
}

/* The family heuristic alone (Jinja skipped), as llama_chat_apply_template. */
static char *render_family(const char *tmpl, const eco_chat_msg *m, size_t n, bool gen,
                           eco_chat_family *f) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_error err = {0};
  eco_logger quiet;
  eco_log_init(&quiet);
  quiet.level = ECO_LOG_OFF;
  eco_chat_opts o = {.lg = &quiet, .family_only = true};
  assert_int_equal(eco_chat_apply_ex(tmpl, m, n, gen, &o, &sb, f, &err), 0);
  char *s = strdup(eco_sb_str(&sb));
  eco_sb_free(&sb);
  return s;
}

static json_t *load_ref(void) {
  char *p = eco_test_shared_path("reference/test-smollm2-2layer-q8_0.gguf.json");
  assert_non_null(p);
  json_error_t je;
  json_t *root = json_load_file(p, 0, &je);
  free(p);
  assert_non_null(root);
  return root;
}

static json_t *find_prompt(json_t *root, const char *name) {
  json_t *prompts = json_object_get(root, "prompts");
  for (size_t i = 0; i < json_array_size(prompts); i++) {
    json_t *p = json_array_get(prompts, i);
    if (!strcmp(json_string_value(json_object_get(p, "name")), name)) return p;
  }
  fail_msg("prompt %s not in reference", name);
  return NULL;
}

static void check_smollm2_template(const char *tmpl, json_t *root) {
  eco_chat_family f;
  char *dsys = NULL;
  assert_int_equal(eco_chat_detect(tmpl, &f, &dsys), 0);
  assert_int_equal(f, ECO_CHAT_CHATML);
  assert_non_null(dsys);
  assert_string_equal(dsys, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  /* system + user, as llama_chat_apply_template was called */
  eco_chat_msg su[2] = {{"system", dsys}, {"user", "What is the capital of France?"}};
  char *s = render(tmpl, su, 2, true, &f);
  assert_string_equal(s, json_string_value(json_object_get(root, "chat_apply_template_llamacpp")));
  free(s);
  /* user only: the template inserts its default system prompt */
  s = render(tmpl, su + 1, 1, true, &f);
  json_t *p = find_prompt(root, "chatml_text");
  assert_string_equal(s, json_string_value(json_object_get(p, "source_text")));
  free(s);
  free(dsys);
}

static void test_smollm2_template_json(void **state) {
  (void)state;
  char *js;
  ECO_TEST_NEED_SHARED("reference/test-smollm2-2layer-q8_0.gguf.json", &js);
  json_t *root = load_ref();
  check_smollm2_template(json_string_value(json_object_get(root, "chat_template")), root);
  json_decref(root);
  free(js);
}

/* The template from the GGUF, rendered and tokenized: the chatml_text ids. */
static void test_smollm2_template_gguf_tokens(void **state) {
  (void)state;
  char *m, *js;
  ECO_TEST_NEED_SHARED("models/test-smollm2-2layer-q8_0.gguf", &m);
  ECO_TEST_NEED_SHARED("reference/test-smollm2-2layer-q8_0.gguf.json", &js);
  eco_gguf *g = NULL;
  eco_error err = {0};
  assert_int_equal(eco_gguf_open(m, &g, &err), 0);
  const eco_gguf_kv *kv = eco_gguf_find(g, "tokenizer.chat_template");
  assert_non_null(kv);
  assert_int_equal(kv->type, ECO_GGUF_STRING);
  char *tmpl = strndup(kv->v.str.ptr, (size_t)kv->v.str.len);
  eco_tokenizer *t = NULL;
  assert_int_equal(eco_tokenizer_from_gguf(g, &t, &err), 0);
  json_t *root = load_ref();
  check_smollm2_template(tmpl, root);

  eco_chat_msg u = {"user", "What is the capital of France?"};
  char *s = render(tmpl, &u, 1, true, NULL);
  int32_t ids[256];
  size_t n;
  assert_int_equal(eco_tokenizer_encode(t, s, strlen(s), true, true, ids, 256, &n), 0);
  json_t *want = json_object_get(find_prompt(root, "chatml_text"), "prompt_ids");
  assert_int_equal(n, json_array_size(want));
  for (size_t i = 0; i < n; i++)
    assert_int_equal(ids[i], json_integer_value(json_array_get(want, i)));
  assert_int_equal(ids[0], 1); /* <|im_start|> */
  free(s);
  json_decref(root);
  eco_tokenizer_free(t);
  free(tmpl);
  eco_gguf_close(g);
  free(m);
  free(js);
}

/* ---- families (templates abbreviated to their marker strings) --------- */

static const char k_llama2_hf[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}";

static const char k_llama3[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
    "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}";

static const char k_zephyr[] =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token "
    "}}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
    "{% endfor %}";

static void test_families(void **state) {
  (void)state;
  eco_chat_family f;
  char *s;

  s = render_family(NULL, k_conv, N_CONV, true, &f);
  assert_int_equal(f, ECO_CHAT_CHATML);
  assert_string_equal(s, "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
                         "<|im_start|>user\nHello<|im_end|>\n"
                         "<|im_start|>assistant\nHi there<|im_end|>\n"
                         "<|im_start|>user\nWho are you<|im_end|>\n"
                         "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n"
                         "<|im_start|>user\nAnother question<|im_end|>\n"
                         "<|im_start|>assistant\n");
  free(s);

  s = render_family(k_llama2_hf, k_conv, N_CONV, true, &f);
  assert_int_equal(f, ECO_CHAT_LLAMA2_SYS_STRIP);
  assert_string_equal(s, "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]"
                         "Hi there</s>[INST] Who are you [/INST]I am an assistant</s>"
                         "[INST] Another question [/INST]");
  free(s);

  s = render_family("[INST] <<SYS>> {{ bos_token + '[INST] ' }}", k_conv, N_CONV, false, &f);
  assert_int_equal(f, ECO_CHAT_LLAMA2_SYS_BOS);
  assert_string_equal(s, "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]"
                         "Hi there</s><s>[INST] Who are you [/INST]   I am an assistant   </s>"
                         "<s>[INST] Another question [/INST]");
  free(s);

  s = render_family("{{ '[INST] ' + message['content'] }}", k_conv, 2, false, &f);
  assert_int_equal(f, ECO_CHAT_LLAMA2);
  assert_string_equal(s, "[INST] You are a helpful assistant\nHello [/INST]");
  free(s);

  s = render_family(k_llama3, k_conv, N_CONV, true, &f);
  assert_int_equal(f, ECO_CHAT_LLAMA3);
  assert_string_equal(
      s, "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
         "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
         "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
         "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
         "<|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|>"
         "<|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|>"
         "<|start_header_id|>assistant<|end_header_id|>\n\n");
  free(s);

  s = render_family(k_zephyr, k_conv, 2, true, &f);
  assert_int_equal(f, ECO_CHAT_ZEPHYR);
  assert_string_equal(s, "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n"
                         "<|assistant|>\n");
  free(s);
  /* with the vocabulary's EOS text */
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_chat_opts o = {.eos_text = "<|endoftext|>", .lg = NULL, .family_only = true};
  assert_int_equal(eco_chat_apply_ex(k_zephyr, k_conv + 1, 1, false, &o, &sb, &f, NULL), 0);
  assert_string_equal(eco_sb_str(&sb), "<|user|>\nHello<|endoftext|>\n");
  eco_sb_free(&sb);

  s = render_family("{{'<|user|>' + message['content'] + '<|end|>\\n' + '<|assistant|>'}}",
                    k_conv + 1, 2, true, &f);
  assert_int_equal(f, ECO_CHAT_PHI3);
  assert_string_equal(s, "<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|assistant|>\n");
  free(s);

  assert_string_equal(eco_chat_family_name(ECO_CHAT_LLAMA3), "llama3");
  assert_string_equal(eco_chat_family_name(ECO_CHAT_ZEPHYR), "zephyr");
}

/* ChatML without a default system prompt does not invent one. */
static void test_chatml_no_default(void **state) {
  (void)state;
  const char *tmpl = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                     "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";
  eco_chat_family f;
  static char sentinel;
  char *dsys = &sentinel;
  assert_int_equal(eco_chat_detect(tmpl, &f, &dsys), 0);
  assert_null(dsys);
  char *s = render_family(tmpl, k_conv + 1, 1, false, &f);
  assert_string_equal(s, "<|im_start|>user\nHello<|im_end|>\n");
  free(s);
  /* the default also stays out when the conversation has its own system message */
  const char *with_default = "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n"
                             "Be brief.<|im_end|>\\n' }}{% endif %}";
  assert_int_equal(eco_chat_detect(with_default, &f, &dsys), 0);
  assert_string_equal(dsys, "Be brief.");
  free(dsys);
  s = render_family(with_default, k_conv, 2, false, &f);
  assert_string_equal(s, "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
                         "<|im_start|>user\nHello<|im_end|>\n");
  free(s);
  /* Qwen2.5 style: the first literal is built from the message, the second is the default */
  const char *qwen = "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + "
                     "messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>"
                     "system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                     "assistant.<|im_end|>\\n' }}{%- endif %}";
  assert_int_equal(eco_chat_detect(qwen, &f, &dsys), 0);
  assert_string_equal(dsys, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  free(dsys);
  s = render_family(with_default, k_conv + 1, 1, false, &f);
  assert_string_equal(
      s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n");
  free(s);
}

static char *read_log(FILE *fp) {
  fflush(fp);
  static char buf[2048];
  rewind(fp);
  size_t r = fread(buf, 1, sizeof buf - 1, fp);
  buf[r] = '\0';
  return buf;
}

static void test_fallback_warns(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  char *path = eco_test_path(dir, "log.txt");
  FILE *fp = fopen(path, "w+");
  assert_non_null(fp);
  eco_logger lg;
  eco_log_init(&lg);
  lg.fd = fileno(fp);
  /* the heuristic alone: an unknown family falls back to ChatML */
  const char *tmpl = "{% for m in messages %}<start_of_turn>{{ m['content'] }}{% endfor %}";
  eco_chat_family f = ECO_CHAT_LLAMA3;
  assert_int_equal(eco_chat_detect(tmpl, &f, NULL), ECO_ENOENT);
  assert_int_equal(f, ECO_CHAT_CHATML);
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_chat_opts o = {.lg = &lg, .family_only = true};
  assert_int_equal(eco_chat_apply_ex(tmpl, k_conv + 1, 1, true, &o, &sb, &f, NULL), 0);
  assert_int_equal(f, ECO_CHAT_CHATML);
  assert_string_equal(eco_sb_str(&sb),
                      "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
  assert_non_null(strstr(read_log(fp), "falling back to ChatML"));
  /* with Jinja the same template renders as written */
  eco_sb_reset(&sb);
  assert_int_equal(eco_chat_apply(tmpl, k_conv + 1, 1, true, &sb, &f, &lg, NULL), 0);
  assert_int_equal(f, ECO_CHAT_JINJA);
  assert_string_equal(eco_sb_str(&sb), "<start_of_turn>Hello");
  /* a template Jinja cannot read falls back to its family, with a warning naming the place */
  eco_sb_reset(&sb);
  const char *broken = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}";
  eco_error err = {0};
  assert_int_equal(eco_chat_apply(broken, k_conv + 1, 1, true, &sb, &f, &lg, &err), 0);
  assert_int_equal(f, ECO_CHAT_CHATML);
  assert_string_equal(eco_sb_str(&sb),
                      "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
  const char *log = read_log(fp);
  assert_non_null(strstr(log, "chat template cannot be rendered (line 2, column 16: "));
  assert_non_null(strstr(log, "expected 'endfor'"));
  fclose(fp);
  /* bad input */
  eco_chat_msg bad = {"user", NULL};
  err = (eco_error){0};
  assert_int_equal(eco_chat_apply(NULL, &bad, 1, true, &sb, NULL, NULL, &err), ECO_EINVAL);
  eco_sb_free(&sb);
  eco_test_rmtree(dir);
  free(path);
  free(dir);
}

static char *read_template(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "templates/%s", name);
  char *path = eco_test_shared_path(rel);
  FILE *fp = fopen(path, "rb");
  free(path);
  if (!fp) return NULL;
  static char buf[1 << 16];
  size_t r = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[r] = '\0';
  return strdup(buf);
}

/* Real templates through the chat layer: the conversation the template
 * rejects is an error (not a fallback), BOS is not doubled, strftime_now
 * sees the time given. */
static void test_jinja_real_templates(void **state) {
  (void)state;
  char *m;
  ECO_TEST_NEED_SHARED("templates/google-gemma-2-2b-it.jinja", &m);
  free(m);
  char *gemma = read_template("google-gemma-2-2b-it.jinja");
  char *llama32 = read_template("meta-llama-Llama-3.2-3B-Instruct.jinja");
  assert_non_null(gemma);
  assert_non_null(llama32);
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_error err = {0};
  eco_chat_family f;
  eco_chat_opts o = {.bos_text = "<bos>", .eos_text = "<eos>", .strip_bos = true};
  assert_int_equal(eco_chat_apply_ex(gemma, k_conv + 1, 3, true, &o, &sb, &f, &err), 0);
  assert_int_equal(f, ECO_CHAT_JINJA);
  assert_string_equal(eco_sb_str(&sb), "<start_of_turn>user\nHello<end_of_turn>\n"
                                       "<start_of_turn>model\nHi there<end_of_turn>\n"
                                       "<start_of_turn>user\nWho are you<end_of_turn>\n"
                                       "<start_of_turn>model\n");
  eco_sb_reset(&sb);
  o.strip_bos = false;
  assert_int_equal(eco_chat_apply_ex(gemma, k_conv + 1, 1, false, &o, &sb, &f, &err), 0);
  assert_string_equal(eco_sb_str(&sb), "<bos><start_of_turn>user\nHello<end_of_turn>\n");
  /* Gemma 2 has no system role: the template says so, the request fails */
  eco_sb_reset(&sb);
  assert_int_equal(eco_chat_apply_ex(gemma, k_conv, 2, true, &o, &sb, &f, &err), ECO_EINVAL);
  assert_non_null(strstr(err.msg, "template raised: System role not supported"));
  assert_int_equal(sb.len, 0);
  /* Llama 3.2 dates its system header with strftime_now (local time; noon UTC is the same
   * day in every time zone within 11 hours) */
  eco_sb_reset(&sb);
  o = (eco_chat_opts){.bos_text = "<|begin_of_text|>", .strip_bos = true, .now = 1721995200};
  assert_int_equal(eco_chat_apply_ex(llama32, k_conv + 1, 1, true, &o, &sb, &f, &err), 0);
  assert_non_null(strstr(eco_sb_str(&sb), "Today Date: 26 Jul 2024\n"));
  assert_int_equal(strncmp(eco_sb_str(&sb), "<|start_header_id|>system", 25), 0);
  /* compiled and checked: Gemma refuses a system role, so system text joins the first user
   * message (how a directive reaches a Gemma model); Llama 3.2 renders it as it is */
  eco_chat_tmpl *t = NULL;
  assert_int_equal(eco_chat_tmpl_new(gemma, &t, &err), 0);
  o = (eco_chat_opts){.bos_text = "<bos>", .strip_bos = true};
  assert_int_equal(eco_chat_tmpl_check(t, &o), 0);
  assert_true(eco_chat_tmpl_no_system(t));
  eco_sb_reset(&sb);
  assert_int_equal(eco_chat_tmpl_apply(t, k_conv, 3, true, &o, &sb, &f, &err), 0);
  assert_string_equal(eco_sb_str(&sb),
                      "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n"
                      "<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>model\n");
  eco_sb_reset(&sb);
  assert_int_equal(eco_chat_tmpl_apply(t, k_conv, 1, false, &o, &sb, &f, &err), 0);
  assert_string_equal(eco_sb_str(&sb),
                      "<start_of_turn>user\nYou are a helpful assistant<end_of_turn>\n");
  eco_chat_tmpl_free(t);
  assert_int_equal(eco_chat_tmpl_new(llama32, &t, &err), 0);
  assert_int_equal(eco_chat_tmpl_check(t, &o), 0);
  assert_false(eco_chat_tmpl_no_system(t));
  eco_chat_tmpl_free(t);
  eco_sb_free(&sb);
  free(gemma);
  free(llama32);
}

/* A compiled template: checked once at load, falls back when it cannot
 * render a one-message chat; an unknown filter falls back per chat. */
static void test_tmpl_check_and_fallback(void **state) {
  (void)state;
  eco_chat_tmpl *t = NULL;
  eco_error err = {0};
  assert_int_equal(eco_chat_tmpl_new(NULL, &t, &err), 0);
  assert_int_equal(eco_chat_tmpl_family(t), ECO_CHAT_CHATML);
  assert_string_equal(eco_chat_tmpl_warning(t), "");
  eco_chat_tmpl_free(t);

  const char *raises = "{{ raise_exception('needs tools') }}<|im_start|>";
  assert_int_equal(eco_chat_tmpl_new(raises, &t, &err), 0);
  assert_int_equal(eco_chat_tmpl_family(t), ECO_CHAT_JINJA);
  assert_int_equal(eco_chat_tmpl_check(t, NULL), ECO_EINVAL);
  assert_int_equal(eco_chat_tmpl_family(t), ECO_CHAT_CHATML);
  assert_non_null(strstr(eco_chat_tmpl_warning(t), "fails on a one-message chat"));
  assert_non_null(strstr(eco_chat_tmpl_warning(t), "needs tools"));
  eco_strbuf sb;
  eco_sb_init(&sb);
  assert_int_equal(eco_chat_tmpl_apply(t, k_conv + 1, 1, false, NULL, &sb, NULL, &err), 0);
  assert_string_equal(eco_sb_str(&sb), "<|im_start|>user\nHello<|im_end|>\n");
  eco_chat_tmpl_free(t);

  const char *filt = "{% for m in messages %}{{ m.content | from_json }}{% endfor %}"
                     "<|start_header_id|><|end_header_id|>";
  assert_int_equal(eco_chat_tmpl_new(filt, &t, &err), 0);
  assert_non_null(strstr(eco_chat_tmpl_warning(t), "unknown filter 'from_json'"));
  eco_logger quiet;
  eco_log_init(&quiet);
  quiet.level = ECO_LOG_OFF;
  eco_chat_opts o = {.lg = &quiet};
  eco_chat_family f;
  eco_sb_reset(&sb);
  assert_int_equal(eco_chat_tmpl_apply(t, k_conv + 1, 1, false, &o, &sb, &f, &err), 0);
  assert_int_equal(f, ECO_CHAT_LLAMA3);
  assert_string_equal(eco_sb_str(&sb),
                      "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>");
  /* invalid UTF-8 in a message is a request error */
  eco_chat_msg bad = {"user", "\xff\xfe"};
  eco_chat_tmpl_free(t);
  assert_int_equal(eco_chat_tmpl_new("{{ messages[0].content }}", &t, &err), 0);
  assert_int_equal(eco_chat_tmpl_apply(t, &bad, 1, false, &o, &sb, &f, &err), ECO_EINVAL);
  eco_chat_tmpl_free(t);
  eco_sb_free(&sb);
}

static void test_prompt_builder(void **state) {
  (void)state;
  char *m, *js;
  ECO_TEST_NEED_SHARED("models/test-smollm2-2layer-q8_0.gguf", &m);
  ECO_TEST_NEED_SHARED("reference/test-smollm2-2layer-q8_0.gguf.json", &js);
  eco_gguf *g = NULL;
  eco_error err = {0};
  assert_int_equal(eco_gguf_open(m, &g, &err), 0);
  eco_tokenizer *t = NULL;
  assert_int_equal(eco_tokenizer_from_gguf(g, &t, &err), 0);
  eco_logger quiet;
  eco_log_init(&quiet);
  quiet.level = ECO_LOG_OFF;
  eco_chat_tmpl *tmpl = NULL;
  assert_int_equal(eco_chat_tmpl_load(g, t, &quiet, &tmpl, &err), 0);
  assert_int_equal(eco_chat_tmpl_family(tmpl), ECO_CHAT_JINJA);
  const eco_gguf_kv *kv = eco_gguf_find(g, "tokenizer.chat_template");
  char *text = strndup(kv->v.str.ptr, (size_t)kv->v.str.len);
  /* a chat: the reference's chatml_text ids */
  eco_chat_msg u = {"user", "What is the capital of France?"};
  eco_prompt_in in = {.msgs = &u, .n_msgs = 1, .tmpl = tmpl, .lg = &quiet};
  eco_prompt p;
  assert_int_equal(eco_chat_prompt(t, &in, &p, &err), 0);
  json_t *root = load_ref();
  json_t *want = json_object_get(find_prompt(root, "chatml_text"), "prompt_ids");
  assert_int_equal(p.n_ids, json_array_size(want));
  for (size_t i = 0; i < p.n_ids; i++)
    assert_int_equal(p.ids[i], json_integer_value(json_array_get(want, i)));
  char *s = render(text, &u, 1, true, NULL);
  assert_string_equal(eco_sb_str(&p.text), s);
  free(s);
  eco_chat_prompt_free(&p);
  /* past max_ids: a context error */
  in.max_ids = 3;
  assert_int_equal(eco_chat_prompt(t, &in, &p, &err), ECO_ECONTEXT);
  assert_null(p.ids);
  /* a template that prints eos_token gets the vocabulary's EOS text */
  eco_chat_tmpl *zt = NULL;
  assert_int_equal(eco_chat_tmpl_new(k_zephyr, &zt, &err), 0);
  in.max_ids = 0;
  in.tmpl = zt;
  assert_int_equal(eco_chat_prompt(t, &in, &p, &err), 0);
  size_t el = 0;
  const char *et = eco_tokenizer_token_text(t, eco_tokenizer_eos(t), &el);
  assert_non_null(et);
  char expect[128];
  snprintf(expect, sizeof expect, "What is the capital of France?%.*s", (int)el, et);
  assert_non_null(strstr(eco_sb_str(&p.text), expect));
  eco_chat_prompt_free(&p);
  eco_chat_tmpl_free(zt);
  /* a plain prompt: special-token text stays text */
  eco_prompt_in plain = {.text = "<|im_start|>hi"};
  assert_int_equal(eco_chat_prompt(t, &plain, &p, &err), 0);
  int32_t ids[64];
  size_t n = 0;
  assert_int_equal(eco_tokenizer_encode(t, "<|im_start|>hi", 14, true, false, ids, 64, &n), 0);
  assert_int_equal(p.n_ids, n);
  assert_memory_equal(p.ids, ids, n * sizeof *ids);
  assert_int_not_equal(p.ids[0], 1); /* not the <|im_start|> token */
  eco_chat_prompt_free(&p);
  /* bad input */
  eco_chat_msg bad = {"user", NULL};
  eco_prompt_in b = {.msgs = &bad, .n_msgs = 1, .tmpl = tmpl, .lg = &quiet};
  assert_int_equal(eco_chat_prompt(t, &b, &p, &err), ECO_EINVAL);
  eco_prompt_in none = {0};
  assert_int_equal(eco_chat_prompt(t, &none, &p, &err), ECO_EINVAL);
  eco_prompt_in no_tmpl = {.msgs = &u, .n_msgs = 1};
  assert_int_equal(eco_chat_prompt(t, &no_tmpl, &p, &err), ECO_EINVAL);
  json_decref(root);
  eco_tokenizer_free(t);
  eco_chat_tmpl_free(tmpl);
  free(text);
  eco_gguf_close(g);
  free(m);
  free(js);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_smollm2_template_json),
      cmocka_unit_test(test_smollm2_template_gguf_tokens),
      cmocka_unit_test(test_families),
      cmocka_unit_test(test_chatml_no_default),
      cmocka_unit_test(test_fallback_warns),
      cmocka_unit_test(test_prompt_builder),
      cmocka_unit_test(test_jinja_real_templates),
      cmocka_unit_test(test_tmpl_check_and_fallback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
