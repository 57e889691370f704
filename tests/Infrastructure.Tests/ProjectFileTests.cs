namespace ConvNeXt.Batch.Infrastructure.Tests;

/// <summary>azure.yaml, the Dockerfile and .dockerignore: the parts of `azd up` that cannot run here.</summary>
public sealed class ProjectFileTests
{
    private static string Root => Repository.Root;

    private static IReadOnlyDictionary<string, string> Azd() => AzureYaml.Parse(File.ReadAllText(Path.Combine(Root, "azure.yaml")));

    private static string Dockerfile() => File.ReadAllText(Path.Combine(Root, "Infrastructure", "Dockerfile"));

    [Fact]
    public void AzureYaml_PointsAtTheBicepInfrastructure()
    {
        var azd = Azd();
        Assert.Equal("bicep", azd["infra.provider"]);
        Assert.Equal("Infrastructure", azd["infra.path"]);
        Assert.True(File.Exists(Path.Combine(Root, azd["infra.path"], azd["infra.module"] + ".bicep")));
        Assert.True(File.Exists(Path.Combine(Root, azd["infra.path"], azd["infra.module"] + ".parameters.json")));
    }

    [Fact]
    public void AzureYaml_DeploysTheFunctionsProjectAsAContainerApp()
    {
        var azd = Azd();
        Assert.Equal("containerapp", azd["services.functions.host"]);
        Assert.Equal("dotnet", azd["services.functions.language"]);

        var project = Path.GetFullPath(Path.Combine(Root, azd["services.functions.project"]));
        Assert.True(File.Exists(Path.Combine(project, "ConvNeXt.Batch.Functions.csproj")), "project folder " + project);

        // azd resolves docker.path and docker.context against the project folder.
        var dockerfile = Path.GetFullPath(Path.Combine(project, azd["services.functions.docker.path"]));
        Assert.Equal(Path.Combine(Root, "Infrastructure", "Dockerfile"), dockerfile);
        var context = Path.GetFullPath(Path.Combine(project, azd["services.functions.docker.context"]));
        Assert.Equal(Path.TrimEndingDirectorySeparator(Root), Path.TrimEndingDirectorySeparator(context));
        Assert.Equal("linux/amd64", azd["services.functions.docker.platform"]);
    }

    [Fact]
    public void AzureYaml_ServiceNameMatchesTheAzdTagOnTheApp()
    {
        Assert.Contains("services.functions.host", Azd().Keys);
        var main = File.ReadAllText(Path.Combine(Root, "Infrastructure", "main.bicep"));
        Assert.Contains("serviceName: 'functions'", main);
    }

    [Fact]
    public void AzureYamlParser_RejectsWhatItCannotRead()
    {
        Assert.Throws<FormatException>(() => AzureYaml.Parse("services:\n  - functions\n"));
        Assert.Equal("b", AzureYaml.Parse("a:\n  x: b # note\n")["a.x"]);
    }

    [Fact]
    public void Dockerfile_BuildsTheGpuFlavourOfTheHandler()
    {
        var dockerfile = Dockerfile();
        Assert.Contains("ARG ONNX_RUNTIME_FLAVOR=Gpu", dockerfile);
        Assert.Contains("-p:OnnxRuntimeFlavor=${ONNX_RUNTIME_FLAVOR}", dockerfile);
        Assert.Contains("ENV OnnxRuntimeFlavor=${ONNX_RUNTIME_FLAVOR}", dockerfile);
        Assert.Contains("Functions/ConvNeXt.Batch.Functions.csproj", dockerfile);
        Assert.Contains("scripts/assemble-functionapp.sh", dockerfile);
        Assert.Contains("COPY --from=build /src/artifacts/functionapp/ /home/site/wwwroot/", dockerfile);
        Assert.Contains("libonnxruntime_providers_cuda.so", dockerfile);

        // The property the Dockerfile sets is the one Directory.Packages.props switches on.
        var packages = File.ReadAllText(Path.Combine(Root, "Directory.Packages.props"));
        Assert.Contains("'$(OnnxRuntimeFlavor)' == 'Gpu'", packages);
    }

    [Fact]
    public async Task GpuFlavour_SetInTheEnvironment_SwitchesThePackage()
    {
        // The Dockerfile relies on MSBuild reading OnnxRuntimeFlavor from the environment so the
        // assemble script's own dotnet publish gets the CUDA build of ONNX Runtime.
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var start = new System.Diagnostics.ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Root,
        };
        foreach (var arg in new[] { "msbuild", "Functions/ConvNeXt.Batch.Functions.csproj", "-getProperty:OnnxRuntimePackage", "-nologo" })
            start.ArgumentList.Add(arg);
        start.Environment["OnnxRuntimeFlavor"] = "Gpu";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = System.Diagnostics.Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await stderr);
        Assert.Equal("Microsoft.ML.OnnxRuntime.Gpu", output.Trim());
    }

    [Fact]
    public void Dockerfile_StartsFromTheFunctionsHostAndAddsCudaAndCudnn9()
    {
        var dockerfile = Dockerfile();
        Assert.Matches(@"ARG FUNCTIONS_BASE_IMAGE=mcr\.microsoft\.com/azure-functions/", dockerfile);
        Assert.Matches(@"ARG CUDA_IMAGE=nvidia/cuda:1[23]\.[0-9.]+-cudnn-runtime-ubuntu22\.04", dockerfile);
        Assert.Contains("for stem in libcudart libcublas libcublasLt libcufft libcurand; do", dockerfile);
        Assert.Contains("libcudnn*.so.9", dockerfile);
        Assert.Contains("COPY --from=cuda /cuda-libs/ /opt/cuda/lib/", dockerfile);
        Assert.Contains("echo /opt/cuda/lib > /etc/ld.so.conf.d/cuda.conf && ldconfig", dockerfile);
        var stages = dockerfile.Split('\n').Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal("FROM ${FUNCTIONS_BASE_IMAGE}", stages[^1].Trim());
        Assert.Contains("FUNCTIONS_WORKER_RUNTIME=custom", dockerfile);
    }

    [Fact]
    public void Dockerfile_RunsAsNonRootOnThePortTheAppTargets()
    {
        var lines = Dockerfile().Split('\n').Select(l => l.Trim()).ToList();
        var user = lines.Last(l => l.StartsWith("USER ", StringComparison.Ordinal))["USER ".Length..].Trim();
        var name = user.Split(':')[0];
        Assert.NotEqual("root", name);
        Assert.NotEqual("0", name);
        Assert.Contains("ASPNETCORE_URLS=http://+:8080 \\", lines);
        Assert.Contains("EXPOSE 8080", lines);
        var functionApp = File.ReadAllText(Path.Combine(Root, "Infrastructure", "modules", "functionapp.bicep"));
        Assert.Contains("var httpPort = 8080", functionApp);
    }

    [Fact]
    public void DockerIgnore_KeepsSourcesAndDropsBuildOutput()
    {
        var rules = File.ReadAllLines(Path.Combine(Root, ".dockerignore"))
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.Contains("**/bin/", rules);
        Assert.Contains("**/obj/", rules);
        Assert.Contains(".git", rules);
        foreach (var needed in new[] { "Functions", "Scoring", "scripts", "host.json", "Directory.Packages.props", "Directory.Build.props" })
            Assert.DoesNotContain(rules, r => r.TrimEnd('/') == needed || r == "*" || r == "**");
    }
}
