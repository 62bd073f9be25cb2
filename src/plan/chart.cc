// `valise plan --chart FILE`: days to deliver against dataset size, as SVG.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "plan/plan.h"
#include "plan/units.h"

namespace valise::plan {
namespace {

constexpr double kW = 960, kH = 600;
constexpr double kLeft = 96, kRight = 930, kTop = 84, kBottom = 520;
constexpr double kXMin = 12, kXMax = 16;  // log10 bytes: 1 TB .. 10 PB
constexpr int kPointsPerDecade = 24;
constexpr double kDay = 86400;

std::string Esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&')
      o += "&amp;";
    else if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

std::string F(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

struct Axes {
  double ymin, ymax;  // log10 days
  double X(double bytes) const { return kLeft + (std::log10(bytes) - kXMin) / (kXMax - kXMin) * (kRight - kLeft); }
  double Y(double days) const { return kBottom - (std::log10(days) - ymin) / (ymax - ymin) * (kBottom - kTop); }
};

std::string DaysLabel(int decade) {
  switch (decade) {
    case -3:
      return "1.4 min";
    case -2:
      return "14 min";
    case -1:
      return "2.4 h";
    case 0:
      return "1 day";
    case 1:
      return "10 days";
    case 2:
      return "100 days";
    case 3:
      return "2.7 years";
    case 4:
      return "27 years";
    default:
      return "274 years";
  }
}

struct Series {
  std::string label, color, dash;
  double width;
  std::vector<std::pair<double, double>> pts;  // bytes, days (days < 0: none)
};

std::string Polyline(const Axes& a, const Series& s) {
  std::string out, cur;
  auto flush = [&] {
    if (!cur.empty())
      out += "<polyline fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"" + F(s.width) +
             "\" stroke-linejoin=\"round\"" + (s.dash.empty() ? "" : " stroke-dasharray=\"" + s.dash + "\"") +
             " points=\"" + cur + "\"/>\n";
    cur.clear();
  };
  for (auto [x, d] : s.pts) {
    if (d <= 0) {
      flush();
      continue;
    }
    cur += (cur.empty() ? "" : " ") + F(a.X(x)) + "," + F(a.Y(d));
  }
  flush();
  return out;
}

// Smallest sampled size from which the trip is faster than the link, for the legend.
std::string Crossover(const Series& trip, const Series& link) {
  int first = -1;
  for (size_t i = 0; i < trip.pts.size(); i++) {
    double t = trip.pts[i].second, n = link.pts[i].second;
    bool trip_wins = t > 0 && t < n;
    if (trip_wins && first < 0) first = int(i);
    if (!trip_wins) first = -1;
  }
  if (first == 0) return "the trip is faster at every size shown";
  if (first < 0) return "faster than the trip at every size shown";
  return "the trip is faster above " + FormatBytes(trip.pts[size_t(first)].first);
}

}  // namespace

std::string ChartSvg(const PlanInput& in, const Plan& plan) {
  const double ratio = in.compression_ratio * in.dedup_ratio;
  std::vector<double> xs;
  for (int i = 0; i <= int(kXMax - kXMin) * kPointsPerDecade; i++)
    xs.push_back(std::pow(10.0, kXMin + double(i) / kPointsPerDecade));

  Series trip{"valise trip, door to door", "#c0392b", "", 3.5, {}};
  for (double x : xs) {
    double s = TripSecondsFor(in, x);
    trip.pts.push_back({x, s > 0 ? s / kDay : -1});
  }
  std::vector<Series> links;
  struct L {
    double bps;
    const char* color;
    const char* dash;
  };
  std::vector<L> ls = {{1e9, "#74a9cf", "10,5"}, {10e9, "#2b8cbe", "6,4"}, {100e9, "#034e7b", "2,3"}};
  double link_bps = in.link_bytes_per_second * 8;
  bool own = std::none_of(ls.begin(), ls.end(), [&](const L& l) { return std::fabs(l.bps - link_bps) < 1; });
  if (own) ls.push_back({link_bps, "#238b45", "14,4,3,4"});
  for (auto& l : ls) {
    Series s{FormatBitRate(l.bps) + " link", l.color, l.dash, 2.5, {}};
    if (in.link_efficiency < 1) {
      char b[48];
      std::snprintf(b, sizeof b, " at %.0f%%", in.link_efficiency * 100);
      s.label += b;
    }
    for (double x : xs) s.pts.push_back({x, x / ratio / (l.bps / 8 * in.link_efficiency) / kDay});
    links.push_back(std::move(s));
  }

  double lo = 1e300, hi = 0;
  for (auto* s : {&trip})
    for (auto [x, d] : s->pts)
      if (d > 0) lo = std::min(lo, d), hi = std::max(hi, d);
  for (auto& s : links)
    for (auto [x, d] : s.pts) hi = std::max(hi, d);
  Axes a;
  a.ymin = std::clamp(std::floor(std::log10(std::max(lo, 1e-9))) - 1, -2.0, 0.0);
  a.ymax = std::clamp(std::ceil(std::log10(std::max(hi, 1e-9))), a.ymin + 2, 5.0);

  std::string svg;
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + F(kW) + "\" height=\"" + F(kH) + "\" viewBox=\"0 0 " +
         F(kW) + " " + F(kH) + "\" font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<defs><clipPath id=\"plot\"><rect x=\"" + F(kLeft) + "\" y=\"" + F(kTop) + "\" width=\"" + F(kRight - kLeft) +
         "\" height=\"" + F(kBottom - kTop) + "\"/></clipPath></defs>\n";
  svg += "<text x=\"" + F(kW / 2) + "\" y=\"30\" text-anchor=\"middle\" font-size=\"20\" font-weight=\"bold\">" +
         "Days to deliver a dataset: drives in suitcases vs the network</text>\n";
  std::string sub =
      FormatBytes(plan.drive_bytes) + " drives, " + std::to_string(plan.per_case) + " per case, " +
      (in.survive_case ? "survives a lost case" : "survives any " + std::to_string(in.survive_drives) + " drives") +
      ", " + FormatDuration(in.flight_seconds) + " flight + " + FormatDuration(in.handling_seconds) + " handling, " +
      (in.hosts > 0 ? std::to_string(in.hosts) + " hosts" : std::string("a host per case")) + " x " +
      std::to_string(in.cores) + " cores";
  svg += "<text x=\"" + F(kW / 2) + "\" y=\"54\" text-anchor=\"middle\" font-size=\"13\" fill=\"#444\">" + Esc(sub) +
         "</text>\n";

  // Grid: decades (darker) and 2..9 within them.
  svg += "<g stroke-width=\"1\">\n";
  for (int e = int(kXMin); e <= int(kXMax); e++) {
    for (int m = 1; m <= 9; m++) {
      double v = m * std::pow(10.0, e);
      if (std::log10(v) > kXMax + 1e-9) break;
      double x = a.X(v);
      svg += "<line x1=\"" + F(x) + "\" y1=\"" + F(kTop) + "\" x2=\"" + F(x) + "\" y2=\"" + F(kBottom) +
             "\" stroke=\"" + (m == 1 ? "#bbb" : "#eee") + "\"/>\n";
    }
  }
  for (int e = int(a.ymin); e <= int(a.ymax); e++) {
    for (int m = 1; m <= 9; m++) {
      double v = m * std::pow(10.0, e);
      if (std::log10(v) > a.ymax + 1e-9) break;
      double y = a.Y(v);
      svg += "<line x1=\"" + F(kLeft) + "\" y1=\"" + F(y) + "\" x2=\"" + F(kRight) + "\" y2=\"" + F(y) +
             "\" stroke=\"" + (m == 1 ? "#bbb" : "#eee") + "\"/>\n";
    }
  }
  svg += "</g>\n";
  svg += "<rect x=\"" + F(kLeft) + "\" y=\"" + F(kTop) + "\" width=\"" + F(kRight - kLeft) + "\" height=\"" +
         F(kBottom - kTop) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  // Tick labels.
  const char* xl[] = {"1 TB", "10 TB", "100 TB", "1 PB", "10 PB"};
  for (int e = int(kXMin); e <= int(kXMax); e++)
    svg += "<text x=\"" + F(a.X(std::pow(10.0, e))) + "\" y=\"" + F(kBottom + 20) +
           "\" text-anchor=\"middle\" font-size=\"13\">" + xl[e - int(kXMin)] + "</text>\n";
  for (int e = int(a.ymin); e <= int(a.ymax); e++)
    svg += "<text x=\"" + F(kLeft - 8) + "\" y=\"" + F(a.Y(std::pow(10.0, e)) + 4) +
           "\" text-anchor=\"end\" font-size=\"13\">" + Esc(DaysLabel(e)) + "</text>\n";
  svg += "<text x=\"" + F((kLeft + kRight) / 2) + "\" y=\"" + F(kBottom + 46) +
         "\" text-anchor=\"middle\" font-size=\"14\">dataset size (log scale)</text>\n";
  svg += "<text transform=\"translate(22," + F((kTop + kBottom) / 2) +
         ") rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">time to deliver (log scale)</text>\n";

  // Lines, clipped to the plot.
  svg += "<g clip-path=\"url(#plot)\">\n";
  for (auto& s : links) svg += Polyline(a, s);
  svg += Polyline(a, trip);
  // This plan: a marker at its size and door-to-door time (hollow: the
  // requested drives do not hold it, the trip line adds cases).
  double scaled = plan.fits ? plan.door_to_door_seconds : TripSecondsFor(in, plan.dataset_bytes);
  if (plan.dataset_bytes >= 1e12 && plan.dataset_bytes <= 1e16) {
    double x = a.X(plan.dataset_bytes);
    svg += "<line x1=\"" + F(x) + "\" y1=\"" + F(kTop) + "\" x2=\"" + F(x) + "\" y2=\"" + F(kBottom) +
           "\" stroke=\"#c0392b\" stroke-dasharray=\"3,3\" stroke-width=\"1\"/>\n";
    if (plan.fits && plan.door_to_door_seconds > 0)
      svg += "<circle cx=\"" + F(x) + "\" cy=\"" + F(a.Y(plan.door_to_door_seconds / kDay)) +
             "\" r=\"6\" fill=\"#c0392b\" stroke=\"white\" stroke-width=\"2\"/>\n";
    else if (scaled > 0)
      svg += "<circle cx=\"" + F(x) + "\" cy=\"" + F(a.Y(scaled / kDay)) +
             "\" r=\"6\" fill=\"white\" stroke=\"#c0392b\" stroke-width=\"2.5\"/>\n";
  }
  svg += "</g>\n";
  if (plan.dataset_bytes >= 1e12 && plan.dataset_bytes <= 1e16) {
    double x = a.X(plan.dataset_bytes);
    std::string label = "this dataset: " + FormatBytes(plan.dataset_bytes);
    if (plan.fits)
      label += ", " + FormatDuration(plan.door_to_door_seconds);
    else if (scaled > 0)
      label += ": does not fit the requested drives; " + FormatDuration(scaled) + " with more cases";
    else
      label += ": does not fit the requested drives";
    bool right = x < (kLeft + kRight) / 2;
    svg += "<text x=\"" + F(right ? x + 6 : x - 6) + "\" y=\"" + F(kBottom - 8) + "\" text-anchor=\"" +
           (right ? "start" : "end") +
           "\" font-size=\"12\" fill=\"#c0392b\" stroke=\"white\" stroke-width=\"4\" paint-order=\"stroke\">" +
           Esc(label) + "</text>\n";
  }

  // Legend, top left inside the plot.
  double lx = kLeft + 14, ly = kTop + 14, lh = 22;
  double lw = 470, lheight = lh * double(1 + links.size()) + 10;
  svg += "<rect x=\"" + F(lx - 6) + "\" y=\"" + F(ly - 6) + "\" width=\"" + F(lw) + "\" height=\"" + F(lheight) +
         "\" fill=\"white\" fill-opacity=\"0.92\" stroke=\"#999\"/>\n";
  auto entry = [&](const Series& s, const std::string& text, int row) {
    double y = ly + 10 + lh * row;
    svg += "<line x1=\"" + F(lx) + "\" y1=\"" + F(y) + "\" x2=\"" + F(lx + 40) + "\" y2=\"" + F(y) + "\" stroke=\"" +
           s.color + "\" stroke-width=\"" + F(s.width) + "\"" +
           (s.dash.empty() ? "" : " stroke-dasharray=\"" + s.dash + "\"") + "/>\n";
    svg += "<text x=\"" + F(lx + 50) + "\" y=\"" + F(y + 4) + "\" font-size=\"13\">" + Esc(text) + "</text>\n";
  };
  entry(trip, trip.label + " (cases added as the data grows)", 0);
  for (size_t i = 0; i < links.size(); i++)
    entry(links[i], links[i].label + ": " + Crossover(trip, links[i]), int(i + 1));
  svg += "</svg>\n";
  return svg;
}

}  // namespace valise::plan
