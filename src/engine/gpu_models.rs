//! NVIDIA MIG profiles per GPU model (the `mixed` strategy), as data. One place in the code;
//! a policy adds models through `gpu.customModels`.
//!
//! A `+me` profile ("media extensions") may exist at most once per GPU and is advertised
//! with a `.me` suffix: `nvidia.com/mig-1g.10gb.me`.

/// A GPU model and the MIG profiles it can be partitioned into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuModel {
    pub name: String,
    pub profiles: Vec<MigProfile>,
}

/// One MIG profile: `1g.10gb` or `1g.10gb+me`, and how many fit on one GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigProfile {
    pub name: String,
    pub max_instances: u32,
}

impl MigProfile {
    /// The profile as it appears in the resource name: `+me` becomes `.me`.
    pub fn resource_suffix(&self) -> String {
        self.name.replace("+me", ".me")
    }
}

type Table = &'static [(&'static [&'static str], &'static [(&'static str, u32)])];

/// The built-in table (SPEC §3, from NVIDIA's MIG user guide).
static BUILTIN: Table = &[
    (
        &["A30-24GB"],
        &[
            ("1g.6gb", 4),
            ("1g.6gb+me", 1),
            ("2g.12gb", 2),
            ("2g.12gb+me", 1),
            ("4g.24gb", 1),
        ],
    ),
    (
        &["A100-40GB"],
        &[
            ("1g.5gb", 7),
            ("1g.5gb+me", 1),
            ("1g.10gb", 4),
            ("2g.10gb", 3),
            ("3g.20gb", 2),
            ("4g.20gb", 1),
            ("7g.40gb", 1),
        ],
    ),
    (
        &["A100-80GB", "H100-80GB"],
        &[
            ("1g.10gb", 7),
            ("1g.10gb+me", 1),
            ("1g.20gb", 4),
            ("2g.20gb", 3),
            ("3g.40gb", 2),
            ("4g.40gb", 1),
            ("7g.80gb", 1),
        ],
    ),
    (
        &["H100-94GB"],
        &[
            ("1g.12gb", 7),
            ("1g.12gb+me", 1),
            ("1g.24gb", 4),
            ("2g.24gb", 3),
            ("3g.47gb", 2),
            ("4g.47gb", 1),
            ("7g.94gb", 1),
        ],
    ),
    (
        &["H100-96GB", "GH200-96GB"],
        &[
            ("1g.12gb", 7),
            ("1g.12gb+me", 1),
            ("1g.24gb", 4),
            ("2g.24gb", 3),
            ("3g.48gb", 2),
            ("4g.48gb", 1),
            ("7g.96gb", 1),
        ],
    ),
    (
        &["H200-141GB"],
        &[
            ("1g.18gb", 7),
            ("1g.18gb+me", 1),
            ("1g.35gb", 4),
            ("2g.35gb", 3),
            ("3g.71gb", 2),
            ("4g.71gb", 1),
            ("7g.141gb", 1),
        ],
    ),
    (
        &["GH200-144GB"],
        &[
            ("1g.18gb", 7),
            ("1g.18gb+me", 1),
            ("1g.36gb", 4),
            ("2g.36gb", 3),
            ("3g.72gb", 2),
            ("4g.72gb", 1),
            ("7g.144gb", 1),
        ],
    ),
    (
        &["B200"],
        &[
            ("1g.23gb", 7),
            ("1g.23gb+me", 1),
            ("1g.45gb", 4),
            ("2g.45gb", 3),
            ("3g.90gb", 2),
            ("4g.90gb", 1),
            ("7g.180gb", 1),
        ],
    ),
];

/// Every built-in model, one entry per name.
pub fn builtin_models() -> Vec<GpuModel> {
    BUILTIN
        .iter()
        .flat_map(|(names, profiles)| {
            names.iter().map(move |name| GpuModel {
                name: (*name).to_string(),
                profiles: profiles
                    .iter()
                    .map(|(profile, max)| MigProfile {
                        name: (*profile).to_string(),
                        max_instances: *max,
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Whether `name` is a well-formed MIG profile name: `<n>g.<m>gb`, optionally `+me`.
pub fn is_profile_name(name: &str) -> bool {
    let base = name.strip_suffix("+me").unwrap_or(name);
    let Some((compute, memory)) = base.split_once("g.") else {
        return false;
    };
    let Some(memory) = memory.strip_suffix("gb") else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(compute) && digits(memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_every_model_of_the_spec() {
        let names: Vec<_> = builtin_models().into_iter().map(|m| m.name).collect();
        for model in [
            "A30-24GB",
            "A100-40GB",
            "A100-80GB",
            "H100-80GB",
            "H100-94GB",
            "H100-96GB",
            "GH200-96GB",
            "H200-141GB",
            "GH200-144GB",
            "B200",
        ] {
            assert!(names.iter().any(|n| n == model), "{model}");
        }
    }

    #[test]
    fn every_builtin_profile_is_well_formed() {
        for model in builtin_models() {
            for profile in &model.profiles {
                assert!(is_profile_name(&profile.name), "{}", profile.name);
            }
        }
        assert!(!is_profile_name("1g10gb"));
        assert!(!is_profile_name("xg.10gb"));
    }

    #[test]
    fn me_profiles_use_a_dot_in_resource_names() {
        let profile = MigProfile {
            name: "1g.10gb+me".into(),
            max_instances: 1,
        };
        assert_eq!(profile.resource_suffix(), "1g.10gb.me");
    }
}
