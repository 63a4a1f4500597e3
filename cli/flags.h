#pragma once
#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace omni::cli {

// A command line read as written: no abbreviated options (--d is not --dry-run and --y is not
// --yes: a guess could start a real init or a reset), and a word that no option or positional
// takes is an error, not dropped (`omni init -f c.yaml dry-run` must not create a cluster).
inline void store_flags(const std::vector<std::string>& args,
                        const boost::program_options::options_description& options,
                        const boost::program_options::positional_options_description& positional,
                        boost::program_options::variables_map& vm) {
  namespace po = boost::program_options;
  constexpr int kStyle =
      po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
  po::command_line_parser parser(args);
  parser.options(options).style(kStyle);
  if (positional.max_total_count() > 0) {
    po::store(parser.positional(positional).run(), vm);  // the parser refuses words beyond it
  } else {
    // Without positionals the parser keeps every word aside, and store() drops them.
    const po::parsed_options parsed = parser.run();
    for (const std::string& word : po::collect_unrecognized(parsed.options, po::include_positional))
      throw po::error("unexpected argument \"" + word + "\"");
    po::store(parsed, vm);
  }
  po::notify(vm);
}

}  // namespace omni::cli
