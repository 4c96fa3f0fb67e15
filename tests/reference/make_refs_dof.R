# Small-sample degrees-of-freedom references for mejax's dfmethod (REML fits).
# Run from the repository root:  Rscript tests/reference/make_refs_dof.R
# Satterthwaite from lmerTest, Kenward-Roger (df, adjusted SEs, F test) from pbkrtest.
suppressPackageStartupMessages({
  library(lme4); library(lmerTest); library(pbkrtest); library(jsonlite)
})
ref_dir <- file.path("tests", "reference")
software <- sprintf("R lmerTest %s / pbkrtest %s / lme4 %s", packageVersion("lmerTest"),
                    packageVersion("pbkrtest"), packageVersion("lme4"))

named <- function(values, names) setNames(as.list(as.numeric(values)), names)

dof_case <- function(id, data_name, formula, stata) {
  data <- read.csv(file.path(ref_dir, "data", paste0(data_name, ".csv")))
  m <- lmer(as.formula(formula), data = data, REML = TRUE,
            control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-3)))
  b <- fixef(m)
  p <- length(b)
  sat <- sapply(seq_len(p), function(j) {
    L <- numeric(p); L[j] <- 1; contest1D(m, L, ddf = "Satterthwaite")$df
  })
  phi_a <- as.matrix(vcovAdj(m))
  kr_df <- sapply(seq_len(p), function(j) {
    L <- matrix(0, 1, p); L[1, j] <- 1; get_Lb_ddf(m, L)
  })
  ref <- list(software = software, fixef = named(b, names(b)),
              satterthwaite_df = named(sat, names(b)), kroger_df = named(kr_df, names(b)),
              kroger_se = named(sqrt(diag(phi_a)), names(b)))
  if (p > 1) {  # joint test that every coefficient but the intercept is zero
    L <- cbind(0, diag(p - 1))
    kr <- KRmodcomp(m, L)$test
    sat_f <- contestMD(m, L, ddf = "Satterthwaite")
    ref$kroger_F <- list(F = kr["Ftest", "stat"], ndf = kr["Ftest", "ndf"],
                         ddf = kr["Ftest", "ddf"], F_scaling = kr["Ftest", "F.scaling"],
                         p = kr["Ftest", "p.value"])
    ref$satterthwaite_F <- list(F = sat_f[["F value"]], ndf = sat_f[["NumDF"]],
                                ddf = sat_f[["DenDF"]], p = sat_f[["Pr(>F)"]])
  }
  case <- list(id = id, data = paste0(data_name, ".csv"),
               model = list(kind = "mixed", formula = formula, reml = TRUE, stata = stata),
               reference = ref)
  write(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE),
        file.path(ref_dir, "cases", paste0(id, ".json")))
  invisible(case)
}

dof_case("dfmethod_sleepstudy_reml", "sleepstudy", "Reaction ~ Days + (Days | Subject)",
         "mixed Reaction Days || Subject: Days, covariance(unstructured) reml dfmethod(kroger)")
dof_case("dfmethod_orthodont_ftest_reml", "orthodont", "distance ~ age * female + (age | Subject)",
         "mixed distance c.age##c.female || Subject: age, covariance(unstructured) reml dfm(sat)")
dof_case("dfmethod_pastes_nested_reml", "pastes", "strength ~ 1 + (1 | batch/cask)",
         "mixed strength || batch: || cask:, reml dfmethod(kr)")
dof_case("dfmethod_penicillin_crossed_reml", "penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)",
         "mixed diameter || _all: R.plate || sample:, reml dfmethod(kroger)")
