// valise._valise: the C++ library for Python (docs/python.md). The Python
// package around it (python/valise/) adds the PyTorch dataset and the error
// classes; everything here releases the GIL while it reads or writes drives.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>

#include "valise/loader.h"
#include "valise/valise.h"

namespace py = pybind11;
using namespace valise;

namespace {

// Carries a Status to the translator, which raises the matching
// valise.errors class with the CLI's message.
struct StatusError : std::runtime_error {
  explicit StatusError(const Status& s) : std::runtime_error(s.message()), code(s.code()) {}
  Code code;
};

template <typename T>
T Take(Result<T> r) {
  if (!r.ok()) throw StatusError(r.status());
  return std::move(r).value();
}

std::vector<std::unique_ptr<Drive>> Drives(const std::vector<std::string>& dirs) {
  std::vector<std::unique_ptr<Drive>> out;
  for (auto& d : dirs) out.push_back(NewPosixDrive(d));
  return out;
}

// Drive directories as given, skipping the ones that are not there (a lost
// drive), as the CLI does; warnings go to Python's warnings module later.
std::vector<std::unique_ptr<Drive>> ExistingDrives(const std::vector<std::string>& dirs,
                                                   std::vector<std::string>* warnings) {
  std::vector<std::string> keep;
  for (auto& d : dirs) {
    if (::access(d.c_str(), F_OK) != 0)
      warnings->push_back(d + " does not exist; treated as a missing drive");
    else
      keep.push_back(d);
  }
  return Drives(keep);
}

// A path, key or field name as Python str: UTF-8, any byte that is not
// decoded as surrogateescape does (os.fsdecode), so non-UTF-8 names round-trip
// through os.fsencode instead of raising UnicodeDecodeError.
py::str Name(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), Py_ssize_t(s.size()), "surrogateescape");
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

py::dict SampleDict(SampleData&& s) {
  py::dict d;
  d["__key__"] = Name(s.key);
  for (auto& [ext, bytes] : s.fields) d[Name(ext)] = py::bytes(bytes);
  return d;
}

EvenMode ParseEven(const std::string& s) {
  if (s == "exact") return EvenMode::kExact;
  if (s == "pad") return EvenMode::kPad;
  if (s == "drop") return EvenMode::kDrop;
  throw StatusError(InvalidArgument("even must be 'exact', 'pad' or 'drop', not '" + s + "'"));
}

class PySet {
 public:
  PySet(const std::vector<std::string>& drives, const std::string& identity, const std::vector<std::string>& signers,
        const std::string& set_id, bool allow_untrusted, const std::string& prefix, const std::string& samples, const std::string& work_dir, uint64_t cache_bytes,
        const std::vector<HostShare>& shared) {
    if (drives.empty()) throw StatusError(InvalidArgument("give the set's drive directories"));
    if (identity.empty()) throw StatusError(InvalidArgument("reading a set needs identity= (an identity file)"));
    SampleIndexOptions io;
    io.prefix = prefix;
    if (samples == "grouped") io.mode = SampleMode::kGrouped;
    else if (samples == "file") io.mode = SampleMode::kFile;
    else throw StatusError(InvalidArgument("samples must be 'grouped' or 'file', not '" + samples + "'"));
    OpenOptions o;
    o.identity_path = identity;
    o.trust.signers = signers;
    o.trust.set_id = set_id;
    o.trust.allow_untrusted = allow_untrusted;
    o.work_dir = work_dir;
    o.cache_bytes = size_t(cache_bytes);
    o.warn = [this](const std::string& w) { warnings_.push_back(w); };
    o.shared = shared;
    io_ = io;
    py::gil_scoped_release nogil;
    auto ds = ExistingDrives(drives, &warnings_);
    reader_ = Take(SetReader::Open(std::move(ds), o));
    // One index per host: the one handed over when its tag checks, else built here.
    for (auto& s : shared) {
      if (s.kind != "index") continue;
      auto adopted = SampleIndex::Adopt(*reader_, s, io);
      if (adopted.ok()) {
        index_ = std::move(adopted).value();
        index_source_ = "shared by process " + std::to_string(s.pid);
        break;
      }
      index_source_ = "built (the index shared by process " + std::to_string(s.pid) +
                      " was refused: " + adopted.status().message() + ")";
    }
    if (index_source_.rfind("shared", 0) != 0) index_ = Take(SampleIndex::Build(*reader_, io));
    if (uint64_t n = index_.no_extension()) {
      std::string w = std::to_string(n) + (n == 1 ? " file" : " files") +
                      " without an extension are not samples (a sample's fields are its files' extensions): ";
      for (size_t i = 0; i < index_.no_extension_examples().size(); i++)
        w += (i ? ", " : "") + index_.no_extension_examples()[i];
      if (n > index_.no_extension_examples().size()) w += ", ...";
      w += "; samples=\"file\" reads every file as a sample";
      warnings_.push_back(w);
    }
  }

  size_t size() const { return index_.size(); }
  py::str key(size_t i) const { return Name(index_.key(Idx(i))); }
  py::list fields(size_t i) const {
    py::list out;
    for (auto& f : index_.fields(Idx(i))) out.append(Name(f.ext));
    return out;
  }
  uint64_t sample_bytes(size_t i) const { return index_.bytes(Idx(i)); }
  py::dict sample(size_t i) {
    Idx(i);
    std::optional<Result<SampleData>> r;
    {
      py::gil_scoped_release nogil;
      r.emplace(ReadSample(*reader_, index_, i));
    }
    return SampleDict(Take(std::move(*r)));
  }
  OrderOptions Order(uint64_t seed, bool shuffle, uint64_t block_bytes, uint32_t window_blocks, int rank,
                     int world_size, const std::string& even) const {
    if (world_size < 1) throw StatusError(InvalidArgument("world_size must be at least 1"));
    if (rank < 0 || rank >= world_size)
      throw StatusError(InvalidArgument("rank " + std::to_string(rank) + " is not in 0.." +
                                        std::to_string(world_size - 1)));
    OrderOptions o;
    o.seed = seed;
    o.shuffle = shuffle;
    o.block_bytes = block_bytes;
    o.window_blocks = window_blocks;
    o.rank = rank;
    o.world_size = world_size;
    o.even = ParseEven(even);
    return o;
  }

  // The sample whose key is `key`, or -1: keys are sorted (SampleIndex::Build).
  int64_t find(const std::string& key) const {
    size_t lo = 0, hi = index_.size();
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (index_.key(mid) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo < index_.size() && index_.key(lo) == key ? int64_t(lo) : -1;
  }

  SetReader& reader() { return *reader_; }
  const SampleIndex& index() const { return index_; }
  py::list warnings() const {
    py::list out;
    for (auto& w : warnings_) out.append(Name(w));
    return out;
  }
  ~PySet() {
    if (index_share_) ::close(index_share_->fd);
  }
  // What another process of this host opens instead of decoding (docs/python.md):
  // the catalogs and the index, made once and kept while this set is open.
  std::vector<HostShare> share() {
    py::gil_scoped_release nogil;
    std::vector<HostShare> out = reader_->ShareCatalogs();
    if (!index_share_) {
      auto s = index_.Share(*reader_, io_);
      if (s.ok()) index_share_ = *s;
    }
    if (index_share_) out.push_back(*index_share_);
    return out;
  }
  std::string catalog_source() const { return reader_->catalog_source(); }
  const std::string& index_source() const { return index_source_; }
  std::string set_id() const { return reader_->set_id(); }
  std::string signer() const { return reader_->signer(); }
  std::string trust() const { return reader_->trust(); }

 private:
  size_t Idx(size_t i) const {
    if (i >= index_.size())
      throw py::index_error("sample " + std::to_string(i) + " is out of range (the set has " +
                            std::to_string(index_.size()) + " samples)");
    return i;
  }
  std::vector<std::string> warnings_;
  std::unique_ptr<SetReader> reader_;
  SampleIndex index_;
  SampleIndexOptions io_;
  std::string index_source_ = "built";
  std::optional<HostShare> index_share_;  // its memfd is ours: closed with the set
};

// HostShare <-> dict: plain values only (no secret: the tag is a MAC).
HostShare ShareFromDict(const py::dict& d) {
  HostShare s;
  s.kind = d["kind"].cast<std::string>();
  s.set_id = d["set_id"].cast<std::string>();
  s.pid = d["pid"].cast<int>();
  s.fd = d["fd"].cast<int>();
  s.dev = d["dev"].cast<uint64_t>();
  s.ino = d["ino"].cast<uint64_t>();
  s.size = d["size"].cast<uint64_t>();
  s.tag = d["tag"].cast<std::string>();
  return s;
}

py::dict ShareToDict(const HostShare& s) {
  py::dict d;
  d["kind"] = s.kind;
  d["set_id"] = s.set_id;
  d["pid"] = s.pid;
  d["fd"] = s.fd;
  d["dev"] = s.dev;
  d["ino"] = s.ino;
  d["size"] = s.size;
  d["tag"] = s.tag;
  return d;
}

// One regular file of the set for ranged reads (Set.open in Python wraps it
// in an io.RawIOBase): every read goes through SetReader::ReadAt, which
// decodes only the chunks holding the bytes asked for.
class PyFile {
 public:
  PyFile(PySet& set, const std::string& path) : set_(set) {
    Result<FileInfo> r = InvalidArgument("");
    {
      py::gil_scoped_release nogil;
      r = set.reader().Stat(path);
    }
    info_ = Take(std::move(r));
    if (info_.type == FileType::kDir) throw StatusError(InvalidArgument("'" + path + "' is a directory, not a file"));
    if (info_.type == FileType::kSymlink)
      throw StatusError(InvalidArgument("'" + path + "' is a symbolic link (to '" + info_.target +
                                        "'), not a regular file: open its target"));
  }
  py::str path() const { return Name(info_.path); }
  uint64_t size() const { return info_.size; }
  // Up to n bytes at `offset` (fewer only at the end of the file).
  py::bytes pread(uint64_t offset, size_t n) {
    if (offset >= info_.size) return py::bytes();
    n = size_t(std::min<uint64_t>(n, info_.size - offset));
    std::string buf(n, '\0');
    size_t got = ReadInto(offset, reinterpret_cast<uint8_t*>(buf.data()), n);
    buf.resize(got);
    return py::bytes(buf);
  }
  // Fills the writable buffer `b` from `offset`; returns the bytes read.
  size_t preadinto(uint64_t offset, py::buffer b) {
    py::buffer_info info = b.request(true);
    if (info.ndim != 1 || info.itemsize != 1 || info.strides[0] != 1)
      throw StatusError(InvalidArgument("readinto needs a contiguous byte buffer"));
    return ReadInto(offset, static_cast<uint8_t*>(info.ptr), size_t(info.size));
  }

 private:
  size_t ReadInto(uint64_t offset, uint8_t* buf, size_t n) {
    Result<size_t> r = size_t(0);
    {
      py::gil_scoped_release nogil;
      r = set_.reader().ReadAt(info_, offset, buf, n);
    }
    return Take(std::move(r));
  }
  PySet& set_;
  FileInfo info_;
};

class PyLoader {
 public:
  PyLoader(PySet& set, LoaderOptions o, LoaderState s) : loader_(set.reader(), set.index(), std::move(o), s) {}
  py::dict Next() {
    std::optional<Result<std::optional<SampleData>>> r;
    {
      py::gil_scoped_release nogil;
      r.emplace(loader_.Next());
    }
    auto s = Take(std::move(*r));
    if (!s) throw py::stop_iteration();
    return SampleDict(std::move(*s));
  }
  size_t size() const { return loader_.size(); }
  py::dict state() const {
    auto s = loader_.state();
    py::dict d;
    d["epoch"] = s.epoch;
    d["position"] = s.position;
    d["done"] = s.done;
    return d;
  }

 private:
  Loader loader_;
};

py::dict ToDict(const PackStats& s) {
  py::dict d;
  d["set_id"] = s.set_id;
  d["signer"] = s.signer;
  d["shipment_id"] = s.shipment_id;
  d["part"] = s.part;
  d["parts"] = s.parts;
  d["k"] = s.k;
  d["m"] = s.m;
  d["files"] = s.files;
  d["dirs"] = s.dirs;
  d["bytes_in"] = s.bytes_in;
  d["bytes_stored"] = s.bytes_stored;
  d["stripes"] = s.stripes;
  d["bytes_per_drive"] = s.bytes_per_drive;
  d["seconds"] = s.seconds;
  d["warnings"] = s.warnings;
  return d;
}

py::dict ToDict(const VerifyReport& r) {
  py::dict d;
  d["set_id"] = r.set_id;
  d["signer"] = r.signer;
  d["signer_pinned"] = r.signer_pinned;
  d["k"] = r.k;
  d["m"] = r.m;
  d["verdict"] = std::string(VerdictName(r.verdict));
  d["keyed"] = r.keyed;
  d["stripes"] = r.stripes;
  d["chunks_checked"] = r.chunks_checked;
  d["chunks_bad"] = r.chunks_bad;
  py::list drives;
  for (auto& x : r.drives) {
    py::dict dd;
    dd["number"] = x.number;
    dd["where"] = x.where;
    dd["state"] = std::string(DriveStateName(x.state));
    dd["problems"] = x.problems;
    drives.append(dd);
  }
  d["drives"] = drives;
  d["lost_files"] = r.lost_files;
  d["warnings"] = r.warnings;
  return d;
}

}  // namespace

PYBIND11_MODULE(_valise, m) {
  m.doc() = "valise: read training samples straight from a packed set (C++ core)";
  m.attr("__version__") = kVersion;

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      py::object errors = py::module_::import("valise.errors");
      py::object cls = errors.attr("class_for")(std::string(CodeName(e.code)));
      // Messages name paths, which need not be UTF-8: their other bytes show as \\xNN.
      std::string what = e.what();
      py::object msg = py::reinterpret_steal<py::object>(
          PyUnicode_DecodeUTF8(what.data(), Py_ssize_t(what.size()), "backslashreplace"));
      PyErr_SetObject(cls.ptr(), cls(msg, std::string(CodeName(e.code))).ptr());
    }
  });

  py::class_<PySet>(m, "Set")
      .def(py::init([](const std::vector<std::string>& drives, const std::string& identity,
                       const std::vector<std::string>& signers, const std::string& set_id, bool allow_untrusted,
                       const std::string& prefix, const std::string& samples, const std::string& work_dir,
                       uint64_t cache_bytes, const py::list& shared) {
             std::vector<HostShare> shares;
             for (auto& d : shared) shares.push_back(ShareFromDict(d.cast<py::dict>()));
             return std::make_unique<PySet>(drives, identity, signers, set_id, allow_untrusted, prefix, samples,
                                            work_dir, cache_bytes, shares);
           }),
           py::arg("drives"), py::arg("identity"), py::arg("signers") = std::vector<std::string>{},
           py::arg("set_id") = "", py::arg("allow_untrusted") = false, py::arg("prefix") = "",
           py::arg("samples") = "grouped", py::arg("work_dir") = "", py::arg("cache_bytes") = 0,
           py::arg("shared") = py::list())
      .def(
          "share",
          [](PySet& s) {
            py::list out;
            for (auto& x : s.share()) out.append(ShareToDict(x));
            return out;
          },
          "What another process of this host (a DataLoader worker) passes as shared= to use this set's "
          "decoded catalog and sample index instead of decoding its own: plain values, no secret.")
      .def_property_readonly("catalog_source", &PySet::catalog_source)
      .def_property_readonly("index_source", &PySet::index_source)
      .def_property_readonly("num_samples", &PySet::size)
      .def("__len__", &PySet::size)
      .def("key", &PySet::key, py::arg("i"))
      .def("fields", &PySet::fields, py::arg("i"))
      .def("sample_bytes", &PySet::sample_bytes, py::arg("i"))
      .def("sample", &PySet::sample, py::arg("i"))
      .def_property_readonly("total_bytes", [](const PySet& s) { return s.index().total_bytes(); })
      .def_property_readonly("warnings", &PySet::warnings)
      .def_property_readonly("set_id", &PySet::set_id)
      .def_property_readonly("signer", &PySet::signer)
      .def_property_readonly("trust", &PySet::trust)
      .def("find", &PySet::find, py::arg("key"), "The index of the sample with this key, or -1.")
      .def(
          "open_file", [](PySet& s, const std::string& path) { return std::make_unique<PyFile>(s, path); },
          py::keep_alive<0, 1>(), py::arg("path"))
      .def(
          "epoch_order",
          [](const PySet& s, uint64_t epoch, uint64_t seed, bool shuffle, uint64_t block_bytes,
             uint32_t window_blocks, int rank, int world_size, const std::string& even, const PositionRanges& done) {
            auto o = s.Order(seed, shuffle, block_bytes, window_blocks, rank, world_size, even);
            return world_size == 1 && even == "exact" && done.empty() ? EpochOrder(s.index(), o, epoch)
                                                                      : RankOrder(s.index(), o, epoch, done);
          },
          py::arg("epoch"), py::arg("seed") = 0, py::arg("shuffle") = true, py::arg("block_bytes") = 4u << 20,
          py::arg("window_blocks") = 4, py::arg("rank") = 0, py::arg("world_size") = 1,
          py::arg("even") = "exact", py::arg("done") = PositionRanges{})
      .def(
          "loader",
          [](PySet& s, uint64_t epoch, uint64_t position, uint64_t seed, bool shuffle, uint64_t block_bytes,
             uint32_t window_blocks, int rank, int world_size, const std::string& even, int worker,
             int num_workers, uint32_t worker_batch, int threads, uint32_t prefetch, uint64_t prefetch_bytes,
             bool skip_errors, const PositionRanges& done) {
            LoaderOptions o;
            o.order = s.Order(seed, shuffle, block_bytes, window_blocks, rank, world_size, even);
            if (num_workers < 1 || worker < 0 || worker >= num_workers)
              throw StatusError(InvalidArgument("worker " + std::to_string(worker) + " is not in 0.." +
                                                std::to_string(num_workers - 1)));
            if (threads < 0 || threads > 256) throw StatusError(InvalidArgument("threads must be 0..256"));
            o.worker = worker;
            o.num_workers = num_workers;
            o.worker_batch = worker_batch;
            o.threads = threads;
            o.prefetch = prefetch;
            o.prefetch_bytes = prefetch_bytes;
            o.skip_errors = skip_errors;
            py::gil_scoped_release nogil;  // computing the order reads nothing but takes time at scale
            return std::make_unique<PyLoader>(s, o, LoaderState{epoch, position, done});
          },
          py::keep_alive<0, 1>(), py::arg("epoch") = 0, py::arg("position") = 0, py::arg("seed") = 0,
          py::arg("shuffle") = true, py::arg("block_bytes") = 4u << 20, py::arg("window_blocks") = 4,
          py::arg("rank") = 0, py::arg("world_size") = 1, py::arg("even") = "exact", py::arg("worker") = 0,
          py::arg("num_workers") = 1, py::arg("worker_batch") = 1, py::arg("threads") = 2,
          py::arg("prefetch") = 32, py::arg("prefetch_bytes") = uint64_t(256) << 20,
          py::arg("skip_errors") = false, py::arg("done") = PositionRanges{});

  m.def(
      "consumed_positions",
      [](uint64_t num_samples, int world_size, uint64_t position, const PositionRanges& done,
         const std::string& even) {
        if (world_size < 1) throw StatusError(InvalidArgument("world_size must be at least 1"));
        OrderOptions o;
        o.world_size = world_size;
        o.even = ParseEven(even);
        return Take(ConsumedPositions(num_samples, o, LoaderState{0, position, done}));
      },
      py::arg("num_samples"), py::arg("world_size"), py::arg("position"), py::arg("done"), py::arg("even"),
      "Elastic resume (docs/loader.md): the positions of the epoch's order, as sorted [begin, end) "
      "ranges, consumed once every rank of a run of world_size ranks, dealt the order less `done` "
      "per `even`, has consumed `position` samples of its part.");
  m.def(
      "longest_part",
      [](uint64_t num_samples, int world_size, const PositionRanges& done, const std::string& even) {
        if (world_size < 1) throw StatusError(InvalidArgument("world_size must be at least 1"));
        OrderOptions o;
        o.world_size = world_size;
        o.even = ParseEven(even);
        return LongestPart(num_samples, o, done);
      },
      py::arg("num_samples"), py::arg("world_size"), py::arg("done"), py::arg("even"),
      "The most samples a rank's part holds in a run of world_size ranks dealt the order less `done`.");
  m.def(
      "epoch_order_of_sizes",
      [](const std::vector<uint64_t>& sizes, uint64_t epoch, uint64_t seed, bool shuffle, uint64_t block_bytes,
         uint32_t window_blocks) {
        OrderOptions o;
        o.seed = seed;
        o.shuffle = shuffle;
        o.block_bytes = block_bytes;
        o.window_blocks = window_blocks;
        py::gil_scoped_release nogil;
        return EpochOrderOfSizes(sizes, o, epoch);
      },
      py::arg("sizes"), py::arg("epoch") = 0, py::arg("seed") = 0, py::arg("shuffle") = true,
      py::arg("block_bytes") = 4u << 20, py::arg("window_blocks") = 4,
      "The epoch order (a permutation of sample numbers) the loader's block shuffle gives samples of "
      "these sizes, in key order: Set.epoch_order without a set, to measure how a layout mixes.");

  py::class_<PyFile>(m, "File")
      .def_property_readonly("path", &PyFile::path)
      .def_property_readonly("size", &PyFile::size)
      .def("pread", &PyFile::pread, py::arg("offset"), py::arg("n"))
      .def("preadinto", &PyFile::preadinto, py::arg("offset"), py::arg("buffer"));

  py::class_<PyLoader>(m, "Loader")
      .def("__iter__", [](PyLoader& l) -> PyLoader& { return l; })
      .def("__next__", &PyLoader::Next)
      .def("__len__", &PyLoader::size)
      .def("state", &PyLoader::state);

  m.def("_debug_catalog_decodes", &CatalogDecodesForTest,
        "Catalogs this process decrypted (a forked child counts from zero); for tests and benchmarks.");
  m.def("_debug_index_builds", &SampleIndexBuildsForTest,
        "Sample indexes this process built from a catalog; for tests and benchmarks.");
  m.def(
      "keygen", [](const std::string& path) { return Take(Keygen(path)); }, py::arg("path"),
      "Writes a new identity file (mode 0600) and returns its recipient string.");
  m.def(
      "fingerprint", [](const std::string& recipient) { return RecipientFingerprint(recipient); },
      py::arg("recipient"), "The short fingerprint of a recipient string, as refusals print it.");
  m.def(
      "recipient_of", [](const std::string& path) { return Take(RecipientOf(path)); }, py::arg("identity"));
  m.def(
      "pack",
      [](const std::string& source, const std::vector<std::string>& drives, const std::string& identity, int parity,
         const std::vector<std::string>& recipients, int compression_level, const std::string& work_dir,
         const std::string& shipment, int part, int parts) {
        PackOptions o;
        o.shipment = shipment;
        o.part = part;
        o.parts = parts;
        o.source = source;
        o.parity = parity;
        o.identity_path = identity;
        o.recipients = recipients;
        o.compression_level = compression_level;
        o.work_dir = work_dir;
        PackStats s;
        {
          py::gil_scoped_release nogil;
          s = Take(Pack(o, Drives(drives)));
        }
        return ToDict(s);
      },
      py::arg("source"), py::arg("drives"), py::arg("identity"), py::arg("parity") = 2,
      py::arg("recipients") = std::vector<std::string>{}, py::arg("compression_level") = 1,
      py::arg("work_dir") = "", py::arg("shipment") = "", py::arg("part") = 0, py::arg("parts") = 0,
      "Packs directory `source` onto the empty drive directories (parity of them are parity).");
  m.def(
      "verify",
      [](const std::vector<std::string>& drives, const std::string& identity, const std::vector<std::string>& signers,
         const std::string& set_id) {
        VerifyOptions o;
        o.identity_path = identity;
        o.signers = signers;
        o.set_id = set_id;
        VerifyReport r;
        {
          py::gil_scoped_release nogil;
          std::vector<std::string> warnings;
          r = Take(Verify(ExistingDrives(drives, &warnings), o));
          r.warnings.insert(r.warnings.begin(), warnings.begin(), warnings.end());
        }
        return ToDict(r);
      },
      py::arg("drives"), py::arg("identity") = "", py::arg("signers") = std::vector<std::string>{},
      py::arg("set_id") = "",
      "Checks every shard (and with identity, every chunk); returns the report as a dict.");
  m.def(
      "restore",
      [](const std::vector<std::string>& drives, const std::string& to, const std::string& identity,
         const std::vector<std::string>& prefixes, const std::vector<std::string>& signers, const std::string& set_id,
         bool allow_untrusted, const std::string& overwrite, bool no_space_check) {
        py::dict d;
        RestoreReport r;
        Overwrite ow = Overwrite::kRefuse;
        if (overwrite == "always") ow = Overwrite::kAlways;
        else if (overwrite == "if-changed") ow = Overwrite::kIfChanged;
        else if (overwrite == "never") ow = Overwrite::kNever;
        else if (!overwrite.empty())
          throw StatusError(InvalidArgument("overwrite='" + overwrite + "': expected 'always', 'if-changed' or 'never'"));
        {
          py::gil_scoped_release nogil;
          std::vector<std::string> warnings;
          OpenOptions oo;
          oo.identity_path = identity;
          oo.trust.signers = signers;
          oo.trust.set_id = set_id;
          oo.trust.allow_untrusted = allow_untrusted;
          auto reader = Take(SetReader::Open(ExistingDrives(drives, &warnings), oo));
          RestoreOptions ro;
          ro.to = to;
          ro.prefixes = prefixes;
          ro.overwrite = ow;
          ro.no_space_check = no_space_check;
          r = Take(Restore(*reader, ro));
        }
        if (!r.failed.empty()) {
          std::string msg = std::to_string(r.failed.size()) + " file(s) could not be restored: " + r.failed.front();
          throw StatusError(DataLoss(msg));
        }
        d["files"] = r.files;
        d["bytes"] = r.bytes;
        d["skipped"] = r.skipped;
        d["unchanged"] = r.unchanged;
        d["kept"] = r.kept;
        d["seconds"] = r.seconds;
        return d;
      },
      py::arg("drives"), py::arg("to"), py::arg("identity"), py::arg("prefixes") = std::vector<std::string>{},
      py::arg("signers") = std::vector<std::string>{}, py::arg("set_id") = "", py::arg("allow_untrusted") = false,
      py::arg("overwrite") = "", py::arg("no_space_check") = false,
      "Restores the set (or the paths under prefixes) into directory `to`, bit-exact. A `to` holding files "
      "already is refused (ValueError-like InvalidArgument) unless it is a killed restore of this set to resume, "
      "or overwrite is 'always', 'if-changed' or 'never' (as valise restore --overwrite). Too little free space "
      "for the bytes to write is refused before writing unless no_space_check.");
}
