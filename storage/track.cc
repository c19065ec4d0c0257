// GPX 1.1 writing (https://www.topografix.com/GPX/1/1/). Numbers go through std::to_chars, which
// ignores the locale, so a device set to a locale with decimal commas writes the same bytes.
#include "storage/track.h"

#include <charconv>
#include <cmath>

#include "base/clock.h"
#include "base/env.h"

namespace patrolrec::storage {
namespace {

// `value` with exactly `decimals` digits after the point; -0 is written as 0 so that equal
// positions always have equal text.
std::string Fixed(double value, int decimals) {
  if (value == 0) value = 0;  // folds -0.0
  char buffer[64];
  auto [end, error] =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, decimals);
  if (error != std::errc()) return "0";  // only for absurd magnitudes, which are not finite fixes
  return std::string(buffer, end);
}

std::string XmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 at all; none can come from our names.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') out += c;
        break;
    }
  }
  return out;
}

// "<indent><name>value</name>\n" when `value` is finite; nothing otherwise.
void Element(std::string& out, const char* indent, const std::string& name, double value,
             int decimals) {
  if (!std::isfinite(value)) return;
  out += indent;
  out += "<" + name + ">" + Fixed(value, decimals) + "</" + name + ">\n";
}

}  // namespace

bool IsWritableTrackPoint(const TrackPoint& p) {
  return std::isfinite(p.latitude_deg) && std::isfinite(p.longitude_deg) && p.latitude_deg >= -90 &&
         p.latitude_deg <= 90 && p.longitude_deg >= -180 && p.longitude_deg <= 180 &&
         (p.mode == 2 || p.mode == 3);
}

int64_t CountWritableTrackPoints(const std::vector<TrackPoint>& points) {
  int64_t n = 0;
  for (const TrackPoint& p : points) n += IsWritableTrackPoint(p) ? 1 : 0;
  return n;
}

std::string FormatGpx(const std::string& device_id, const std::string& camera,
                      const std::string& segment_file, const std::vector<TrackPoint>& points) {
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<gpx version=\"1.1\" creator=\"patrolrec\" xmlns=\"http://www.topografix.com/GPX/1/1\" "
      "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:patrolrec=\"";
  out += kGpxExtensionsNamespace;
  out +=
      "\" xsi:schemaLocation=\"http://www.topografix.com/GPX/1/1 "
      "http://www.topografix.com/GPX/1/1/gpx.xsd\">\n";
  // GPX orders the children of every element (the schema is a sequence): metadata before trk;
  // in a trkpt ele, time, fix, sat, then extensions.
  out += "  <metadata>\n";
  out += "    <name>" + XmlEscape(base::BaseName(segment_file)) + "</name>\n";
  out += "    <extensions>\n";
  out += "      <patrolrec:device>" + XmlEscape(device_id) + "</patrolrec:device>\n";
  out += "      <patrolrec:camera>" + XmlEscape(camera) + "</patrolrec:camera>\n";
  out += "      <patrolrec:segment>" + XmlEscape(segment_file) + "</patrolrec:segment>\n";
  out += "    </extensions>\n";
  out += "  </metadata>\n";
  out += "  <trk>\n";
  out += "    <name>" + XmlEscape(camera) + "</name>\n";
  if (CountWritableTrackPoints(points) == 0) {
    out += "    <trkseg/>\n";
  } else {
    out += "    <trkseg>\n";
    for (const TrackPoint& p : points) {
      if (!IsWritableTrackPoint(p)) continue;
      const bool receiver_time = p.gps_utc_ns > 0;
      out += "      <trkpt lat=\"" + Fixed(p.latitude_deg, 7) + "\" lon=\"" +
             Fixed(p.longitude_deg, 7) + "\">\n";
      Element(out, "        ", "ele", p.altitude_m, 3);
      out += "        <time>" + base::FormatUtcNs(receiver_time ? p.gps_utc_ns : p.utc_ns) +
             "</time>\n";
      out += std::string("        <fix>") + (p.mode == 3 ? "3d" : "2d") + "</fix>\n";
      if (p.satellites_used >= 0) {
        out += "        <sat>" + std::to_string(p.satellites_used) + "</sat>\n";
      }
      out += "        <extensions>\n";
      // Which clock <time> is from: the receiver's fix time, or (none reported) the system
      // clock when the fix arrived.
      out += std::string("          <patrolrec:time_from>") +
             (receiver_time ? "receiver" : "system-clock") + "</patrolrec:time_from>\n";
      out += "          <patrolrec:received_utc>" + base::FormatUtcNs(p.utc_ns) +
             "</patrolrec:received_utc>\n";
      Element(out, "          ", "patrolrec:speed_mps", p.speed_mps, 3);
      Element(out, "          ", "patrolrec:course_deg", p.course_deg, 2);
      Element(out, "          ", "patrolrec:horizontal_error_m", p.horizontal_error_m, 3);
      Element(out, "          ", "patrolrec:vertical_error_m", p.vertical_error_m, 3);
      out += "        </extensions>\n";
      out += "      </trkpt>\n";
    }
    out += "    </trkseg>\n";
  }
  out += "  </trk>\n";
  out += "</gpx>\n";
  return out;
}

}  // namespace patrolrec::storage
