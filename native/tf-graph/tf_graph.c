// A small N-API addon over TensorFlow's C API (tensorflow/c/c_api.h): build a graph op by op from JavaScript, open a
// session on it and run it. It knows nothing of the model: src/graph builds the training step's graph with it.
//
// Why: tfjs-node runs every op eagerly, one C call each; a graph runs the whole training step in one TF_SessionRun,
// with parameters and optimiser state held in TensorFlow resource variables between calls.
//
// Handles are small integers into per-process tables (graphs, sessions); ops are indices into their graph's op list.
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tensorflow/c/c_api.h>

#define MAX_HANDLES 256

typedef struct {
  TF_Graph *graph;
  TF_Operation **ops;
  size_t n_ops, cap_ops;
} Graph;

static Graph graphs[MAX_HANDLES];
static TF_Session *sessions[MAX_HANDLES];
static int session_graph[MAX_HANDLES];

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, NULL, "tf-graph: N-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static napi_value throw_tf(napi_env env, const char *what, TF_Status *st) {
  char buf[2048];
  snprintf(buf, sizeof buf, "tf-graph: %s: %s", what, TF_Message(st));
  TF_DeleteStatus(st);
  napi_throw_error(env, NULL, buf);
  return NULL;
}

static int get_int(napi_env env, napi_value v, int64_t *out) { return napi_get_value_int64(env, v, out) == napi_ok; }

static char *get_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static napi_value element(napi_env env, napi_value arr, uint32_t i) {
  napi_value v = NULL;
  napi_get_element(env, arr, i, &v);
  return v;
}

static uint32_t length_of(napi_env env, napi_value arr) {
  uint32_t n = 0;
  napi_get_array_length(env, arr, &n);
  return n;
}

static Graph *graph_of(napi_env env, napi_value v) {
  int64_t id;
  if (!get_int(env, v, &id) || id < 0 || id >= MAX_HANDLES || graphs[id].graph == NULL) {
    napi_throw_error(env, NULL, "tf-graph: not a live graph handle");
    return NULL;
  }
  return &graphs[id];
}

/** [op, index] -> TF_Output; 0 on a bad reference (and a JS exception pending). */
static int output_of(napi_env env, Graph *g, napi_value pair, TF_Output *out) {
  int64_t op, idx;
  if (!get_int(env, element(env, pair, 0), &op) || !get_int(env, element(env, pair, 1), &idx) || op < 0 ||
      (size_t)op >= g->n_ops) {
    napi_throw_error(env, NULL, "tf-graph: an input is not an [op, output] pair of this graph");
    return 0;
  }
  out->oper = g->ops[op];
  out->index = (int)idx;
  return 1;
}

static napi_value new_graph(napi_env env, napi_callback_info info) {
  for (int i = 0; i < MAX_HANDLES; i++) {
    if (graphs[i].graph == NULL) {
      graphs[i].graph = TF_NewGraph();
      graphs[i].n_ops = 0;
      graphs[i].cap_ops = 64;
      graphs[i].ops = malloc(sizeof(TF_Operation *) * 64);
      napi_value r;
      CHECK(napi_create_int32(env, i, &r));
      return r;
    }
  }
  napi_throw_error(env, NULL, "tf-graph: too many graphs open (256)");
  return NULL;
}

static napi_value delete_graph(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Graph *g = graph_of(env, argv[0]);
  if (g == NULL) return NULL;
  TF_DeleteGraph(g->graph);
  free(g->ops);
  memset(g, 0, sizeof *g);
  return NULL;
}

/** A constant tensor from {dtype, shape, data: TypedArray}. */
static TF_Tensor *tensor_from(napi_env env, napi_value obj) {
  napi_value vdt, vshape, vdata;
  napi_get_named_property(env, obj, "dtype", &vdt);
  napi_get_named_property(env, obj, "shape", &vshape);
  napi_get_named_property(env, obj, "data", &vdata);
  int64_t dt;
  get_int(env, vdt, &dt);
  uint32_t nd = length_of(env, vshape);
  int64_t dims[16];
  for (uint32_t i = 0; i < nd && i < 16; i++) get_int(env, element(env, vshape, i), &dims[i]);
  napi_typedarray_type tt;
  size_t len, off;
  void *data;
  napi_value ab;
  if (napi_get_typedarray_info(env, vdata, &tt, &len, &data, &ab, &off) != napi_ok) return NULL;
  size_t bytes = TF_DataTypeSize((TF_DataType)dt);
  for (uint32_t i = 0; i < nd; i++) bytes *= (size_t)dims[i];
  size_t elem = tt == napi_float32_array || tt == napi_int32_array ? 4 : tt == napi_float64_array || tt == napi_bigint64_array ? 8 : 1;
  if (len * elem != bytes) return NULL;
  TF_Tensor *t = TF_AllocateTensor((TF_DataType)dt, dims, (int)nd, bytes);
  if (bytes > 0) memcpy(TF_TensorData(t), data, bytes);
  return t;
}

/**
 * addOp(graph, type, name, inputs, attrs, controlInputs) -> op index.
 * inputs: [op, index] pairs, or arrays of them for list inputs. attrs: [name, kind, value] with kind one of
 * type, int, float, bool, string, shape, ints, types, tensor.
 */
static napi_value add_op(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Graph *g = graph_of(env, argv[0]);
  if (g == NULL) return NULL;
  char *type = get_string(env, argv[1]);
  char *name = get_string(env, argv[2]);
  TF_OperationDescription *d = TF_NewOperation(g->graph, type, name);
  uint32_t n_in = length_of(env, argv[3]);
  for (uint32_t i = 0; i < n_in; i++) {
    napi_value in = element(env, argv[3], i);
    napi_value first = element(env, in, 0);
    bool is_list = false;
    napi_is_array(env, first, &is_list);
    uint32_t n = is_list ? length_of(env, in) : 1;
    TF_Output *outs = malloc(sizeof(TF_Output) * (n > 0 ? n : 1));
    for (uint32_t j = 0; j < n; j++) {
      if (!output_of(env, g, is_list ? element(env, in, j) : in, &outs[j])) {
        free(outs), free(type), free(name);
        return NULL;
      }
    }
    if (is_list) TF_AddInputList(d, outs, (int)n);
    else TF_AddInput(d, outs[0]);
    free(outs);
  }
  TF_Status *st = TF_NewStatus();
  uint32_t n_attr = length_of(env, argv[4]);
  for (uint32_t i = 0; i < n_attr; i++) {
    napi_value a = element(env, argv[4], i);
    char *an = get_string(env, element(env, a, 0));
    char *kind = get_string(env, element(env, a, 1));
    napi_value v = element(env, a, 2);
    int64_t iv;
    if (strcmp(kind, "type") == 0) {
      get_int(env, v, &iv);
      TF_SetAttrType(d, an, (TF_DataType)iv);
    } else if (strcmp(kind, "int") == 0) {
      get_int(env, v, &iv);
      TF_SetAttrInt(d, an, iv);
    } else if (strcmp(kind, "float") == 0) {
      double f;
      napi_get_value_double(env, v, &f);
      TF_SetAttrFloat(d, an, (float)f);
    } else if (strcmp(kind, "bool") == 0) {
      bool b;
      napi_get_value_bool(env, v, &b);
      TF_SetAttrBool(d, an, b);
    } else if (strcmp(kind, "string") == 0) {
      char *s = get_string(env, v);
      TF_SetAttrString(d, an, s, strlen(s));
      free(s);
    } else if (strcmp(kind, "shape") == 0 || strcmp(kind, "ints") == 0 || strcmp(kind, "types") == 0) {
      uint32_t n = length_of(env, v);
      int64_t *xs = malloc(sizeof(int64_t) * (n > 0 ? n : 1));
      for (uint32_t j = 0; j < n; j++) get_int(env, element(env, v, j), &xs[j]);
      if (kind[0] == 's') TF_SetAttrShape(d, an, xs, (int)n);
      else if (kind[0] == 'i') TF_SetAttrIntList(d, an, xs, (int)n);
      else {
        TF_DataType *ts = malloc(sizeof(TF_DataType) * (n > 0 ? n : 1));
        for (uint32_t j = 0; j < n; j++) ts[j] = (TF_DataType)xs[j];
        TF_SetAttrTypeList(d, an, ts, (int)n);
        free(ts);
      }
      free(xs);
    } else if (strcmp(kind, "tensor") == 0) {
      TF_Tensor *t = tensor_from(env, v);
      if (t == NULL) {
        free(an), free(kind), free(type), free(name);
        TF_DeleteStatus(st);
        napi_throw_error(env, NULL, "tf-graph: a tensor attribute's data does not match its dtype and shape");
        return NULL;
      }
      TF_SetAttrTensor(d, an, t, st);
      TF_DeleteTensor(t);
    }
    free(an), free(kind);
    if (TF_GetCode(st) != TF_OK) {
      free(type), free(name);
      return throw_tf(env, "setting an attribute", st);
    }
  }
  if (argc > 5) {
    uint32_t n_ctl = length_of(env, argv[5]);
    for (uint32_t i = 0; i < n_ctl; i++) {
      int64_t op;
      get_int(env, element(env, argv[5], i), &op);
      if (op >= 0 && (size_t)op < g->n_ops) TF_AddControlInput(d, g->ops[op]);
    }
  }
  TF_Operation *op = TF_FinishOperation(d, st);
  if (TF_GetCode(st) != TF_OK) {
    char what[512];
    snprintf(what, sizeof what, "adding %s '%s'", type, name);
    free(type), free(name);
    return throw_tf(env, what, st);
  }
  free(type), free(name);
  TF_DeleteStatus(st);
  if (g->n_ops == g->cap_ops) {
    g->cap_ops *= 2;
    g->ops = realloc(g->ops, sizeof(TF_Operation *) * g->cap_ops);
  }
  g->ops[g->n_ops] = op;
  napi_value r;
  CHECK(napi_create_int64(env, (int64_t)g->n_ops++, &r));
  return r;
}

/** newSession(graph, configProto?: Uint8Array) -> session handle. */
static napi_value new_session(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Graph *g = graph_of(env, argv[0]);
  if (g == NULL) return NULL;
  int64_t gid;
  get_int(env, argv[0], &gid);
  TF_Status *st = TF_NewStatus();
  TF_SessionOptions *opts = TF_NewSessionOptions();
  if (argc > 1) {
    napi_typedarray_type tt;
    size_t len, off;
    void *data;
    napi_value ab;
    if (napi_get_typedarray_info(env, argv[1], &tt, &len, &data, &ab, &off) == napi_ok && len > 0) {
      TF_SetConfig(opts, data, len, st);
      if (TF_GetCode(st) != TF_OK) {
        TF_DeleteSessionOptions(opts);
        return throw_tf(env, "session config", st);
      }
    }
  }
  for (int i = 0; i < MAX_HANDLES; i++) {
    if (sessions[i] == NULL) {
      sessions[i] = TF_NewSession(g->graph, opts, st);
      TF_DeleteSessionOptions(opts);
      if (TF_GetCode(st) != TF_OK) {
        sessions[i] = NULL;
        return throw_tf(env, "opening a session", st);
      }
      TF_DeleteStatus(st);
      session_graph[i] = (int)gid;
      napi_value r;
      CHECK(napi_create_int32(env, i, &r));
      return r;
    }
  }
  TF_DeleteSessionOptions(opts);
  TF_DeleteStatus(st);
  napi_throw_error(env, NULL, "tf-graph: too many sessions open (256)");
  return NULL;
}

static napi_value close_session(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t id;
  if (!get_int(env, argv[0], &id) || id < 0 || id >= MAX_HANDLES || sessions[id] == NULL) return NULL;
  TF_Status *st = TF_NewStatus();
  TF_CloseSession(sessions[id], st);
  TF_DeleteSession(sessions[id], st);
  sessions[id] = NULL;
  TF_DeleteStatus(st);
  return NULL;
}

/**
 * run(session, feeds, fetches, targets) -> [{shape, data}] for each fetch (float32 -> Float32Array, int32 ->
 * Int32Array). feeds: [[op, index], {dtype, shape, data}]; fetches: [op, index]; targets: op indices.
 */
static napi_value run(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t sid;
  if (!get_int(env, argv[0], &sid) || sid < 0 || sid >= MAX_HANDLES || sessions[sid] == NULL) {
    napi_throw_error(env, NULL, "tf-graph: not an open session handle");
    return NULL;
  }
  Graph *g = &graphs[session_graph[sid]];
  uint32_t nf = length_of(env, argv[1]), no = length_of(env, argv[2]), nt = length_of(env, argv[3]);
  TF_Output *fin = calloc(nf + 1, sizeof(TF_Output));
  TF_Tensor **fval = calloc(nf + 1, sizeof(TF_Tensor *));
  TF_Output *fout = calloc(no + 1, sizeof(TF_Output));
  TF_Tensor **oval = calloc(no + 1, sizeof(TF_Tensor *));
  const TF_Operation **tgt = calloc(nt + 1, sizeof(TF_Operation *));
  napi_value result = NULL;
  int ok = 1;
  for (uint32_t i = 0; ok && i < nf; i++) {
    napi_value f = element(env, argv[1], i);
    ok = output_of(env, g, element(env, f, 0), &fin[i]);
    if (ok && (fval[i] = tensor_from(env, element(env, f, 1))) == NULL) {
      napi_throw_error(env, NULL, "tf-graph: a fed tensor's data does not match its dtype and shape");
      ok = 0;
    }
  }
  for (uint32_t i = 0; ok && i < no; i++) ok = output_of(env, g, element(env, argv[2], i), &fout[i]);
  for (uint32_t i = 0; ok && i < nt; i++) {
    int64_t op;
    get_int(env, element(env, argv[3], i), &op);
    if (op < 0 || (size_t)op >= g->n_ops) {
      napi_throw_error(env, NULL, "tf-graph: a target is not an op of this graph");
      ok = 0;
    } else tgt[i] = g->ops[op];
  }
  if (ok) {
    TF_Status *st = TF_NewStatus();
    TF_SessionRun(sessions[sid], NULL, fin, fval, (int)nf, fout, oval, (int)no, tgt, (int)nt, NULL, st);
    if (TF_GetCode(st) != TF_OK) {
      throw_tf(env, "running the graph", st);
    } else {
      TF_DeleteStatus(st);
      napi_create_array_with_length(env, no, &result);
      for (uint32_t i = 0; i < no; i++) {
        TF_Tensor *t = oval[i];
        int nd = TF_NumDims(t);
        napi_value shape, obj, ab, ta;
        napi_create_array_with_length(env, nd, &shape);
        for (int k = 0; k < nd; k++) {
          napi_value dim;
          napi_create_int64(env, TF_Dim(t, k), &dim);
          napi_set_element(env, shape, k, dim);
        }
        size_t bytes = TF_TensorByteSize(t);
        void *dst;
        napi_create_arraybuffer(env, bytes, &dst, &ab);
        if (bytes > 0) memcpy(dst, TF_TensorData(t), bytes);
        napi_create_typedarray(env, TF_TensorType(t) == TF_INT32 ? napi_int32_array : napi_float32_array, bytes / 4, ab, 0, &ta);
        napi_create_object(env, &obj);
        napi_set_named_property(env, obj, "shape", shape);
        napi_set_named_property(env, obj, "data", ta);
        napi_set_element(env, result, i, obj);
      }
    }
  }
  for (uint32_t i = 0; i < nf; i++)
    if (fval[i]) TF_DeleteTensor(fval[i]);
  for (uint32_t i = 0; i < no; i++)
    if (oval[i]) TF_DeleteTensor(oval[i]);
  free(fin), free(fval), free(fout), free(oval), free(tgt);
  return result;
}

static napi_value version(napi_env env, napi_callback_info info) {
  napi_value r;
  CHECK(napi_create_string_utf8(env, TF_Version(), NAPI_AUTO_LENGTH, &r));
  return r;
}

// addGradients(graph, prefix, ys, xs, dys) -> [op, output][] : TF_AddGradientsWithPrefix over TensorFlow's C++
// gradient registry (tensorflow/cc/gradients): sum over ys of d(y . dy)/dx for each x, emitted into the graph. The
// ops it returns outputs of are appended to the graph's op table so that later ops can take them as inputs. Throws
// TensorFlow's message (e.g. "No gradient defined for op: X") where the registry lacks an op on the path.
static napi_value add_gradients(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Graph *g = graph_of(env, argv[0]);
  if (g == NULL) return NULL;
  char *prefix = get_string(env, argv[1]);
  uint32_t ny = length_of(env, argv[2]), nx = length_of(env, argv[3]), nd = length_of(env, argv[4]);
  if (nd != 0 && nd != ny) {
    free(prefix);
    napi_throw_error(env, NULL, "tf-graph: addGradients takes one dy per y (or none)");
    return NULL;
  }
  TF_Output *ys = calloc(ny + 1, sizeof(TF_Output)), *xs = calloc(nx + 1, sizeof(TF_Output));
  TF_Output *dys = calloc(nd + 1, sizeof(TF_Output)), *dxs = calloc(nx + 1, sizeof(TF_Output));
  int ok = 1;
  for (uint32_t i = 0; ok && i < ny; i++) ok = output_of(env, g, element(env, argv[2], i), &ys[i]);
  for (uint32_t i = 0; ok && i < nx; i++) ok = output_of(env, g, element(env, argv[3], i), &xs[i]);
  for (uint32_t i = 0; ok && i < nd; i++) ok = output_of(env, g, element(env, argv[4], i), &dys[i]);
  napi_value result = NULL;
  if (ok) {
    TF_Status *st = TF_NewStatus();
    TF_AddGradientsWithPrefix(g->graph, prefix, ys, (int)ny, xs, (int)nx, nd == 0 ? NULL : dys, st, dxs);
    if (TF_GetCode(st) != TF_OK) {
      throw_tf(env, "adding gradients from the registry", st);
      ok = 0;
    } else {
      TF_DeleteStatus(st);
      napi_create_array_with_length(env, nx, &result);
      for (uint32_t i = 0; i < nx; i++) {
        if (g->n_ops == g->cap_ops) {
          g->cap_ops *= 2;
          g->ops = realloc(g->ops, sizeof(TF_Operation *) * g->cap_ops);
        }
        g->ops[g->n_ops] = dxs[i].oper;
        napi_value pair, a, b;
        napi_create_array_with_length(env, 2, &pair);
        napi_create_int64(env, (int64_t)g->n_ops++, &a);
        napi_create_int32(env, dxs[i].index, &b);
        napi_set_element(env, pair, 0, a);
        napi_set_element(env, pair, 1, b);
        napi_set_element(env, result, i, pair);
      }
    }
  }
  free(prefix), free(ys), free(xs), free(dys), free(dxs);
  return ok ? result : NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"newGraph", NULL, new_graph, NULL, NULL, NULL, napi_default, NULL},
      {"deleteGraph", NULL, delete_graph, NULL, NULL, NULL, napi_default, NULL},
      {"addOp", NULL, add_op, NULL, NULL, NULL, napi_default, NULL},
      {"newSession", NULL, new_session, NULL, NULL, NULL, napi_default, NULL},
      {"closeSession", NULL, close_session, NULL, NULL, NULL, napi_default, NULL},
      {"run", NULL, run, NULL, NULL, NULL, napi_default, NULL},
      {"addGradients", NULL, add_gradients, NULL, NULL, NULL, napi_default, NULL},
      {"version", NULL, version, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
